"""Client-side PKI over the KMS API: CSRs, X.509 certificates, CMS code signatures and JWTs whose
signatures are made inside Trent by KMS ``Sign`` (the private keys never leave it).

Layers: ``schemes`` (which KMS signing algorithm, hash and ASN.1/JOSE identifiers a key spec
uses) → ``signer`` (a boto3 KMS client and a key) → ``csr``, ``certs``, ``cms``, ``jws``
(structures built with pyca/cryptography and asn1crypto) → ``chain`` (offline verification)
→ ``cli`` (the ``trent pki`` and ``trent jwt`` command groups).
"""
