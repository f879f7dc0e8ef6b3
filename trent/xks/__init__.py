"""Trent as an AWS KMS external key store (XKS) proxy.

AWS KMS keys in an external key store keep their root of trust outside AWS: for every
cryptographic operation AWS KMS calls an XKS proxy over HTTPS (AWS's "AWS KMS External Keystore
(XKS) Proxy API Specification"). Trent serves that API on its own port, with its own symmetric
keys as the external keys:

- ``credentials``: the SigV4 credentials (per path prefix, two at once for rotation) and their
  secondary-authorization rules on ``requestMetadata``;
- ``proxy``: GetKeyMetadata, Encrypt, Decrypt and GetHealthStatus as operations (no HTTP);
- ``cipher``: AES-256-GCM with the spec's AAD construction and ciphertextDataIntegrityValue;
- ``errors``: the spec's error table; ``record``: the audit record of each request.

HTTP lives in ``trent.protocol.xks``.
"""
