"""Trent: a self-hosted key management service that speaks the AWS KMS API.

Layers, in the order a request flows through them:

- ``protocol``: HTTP, SigV4, the JSON 1.1 dispatch table and model-driven validation.
- ``operations``: one module per family of KMS operations; no HTTP in here.
- ``authz``: the one authorization call every operation makes.
- ``crypto``: the ciphertext format, encryption context, key material.
- ``seal``: the root key and the barrier that encrypts everything stored.
- ``store``: one storage interface; SQLite behind it.
"""

from trent import native

__version__ = "0.1.0"

native.choose()  # compiled request path, or its sources when the build is stale (trent.native)
