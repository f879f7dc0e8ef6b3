"""Cryptography: the ciphertext blob format, the canonical encryption context, key material.

The only package (with ``seal``) that imports ``cryptography``. It raises its own errors
(``CiphertextError``); turning them into AWS errors is the operations layer's job.
"""
