"""Key agreement and encapsulation: DeriveSharedSecret (ECDH), Encapsulate and Decapsulate
(ML-KEM). Shared secrets leave only in the response; the audit trail drops them (blobs)."""

from __future__ import annotations

from trent.crypto import asymmetric
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.keyuse import check_algorithm, key_for

ML_KEM = "ML_KEM"


def derive_shared_secret(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "DeriveSharedSecret", "KEY_AGREEMENT")
    algorithm = req["KeyAgreementAlgorithm"]
    check_algorithm(env, key, algorithm, "DeriveSharedSecret")
    if "Recipient" in req:
        raise errors.NO_RECIPIENT()
    check_dry_run(req)
    try:
        secret = asymmetric.derive_shared_secret(env.keyring.private_key(key), req["PublicKey"])
    except asymmetric.PublicKeyError as exc:
        raise errors.INVALID_PUBLIC_KEY(detail=str(exc)) from exc
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": algorithm,
        "KeyOrigin": key.origin,
    }


def _kem_algorithm(req: Request) -> str:
    algorithm = str(req.get("EncapsulationAlgorithm") or ML_KEM)
    if algorithm != ML_KEM:
        raise errors.ENCAPSULATION_ALGORITHM()
    return algorithm


def encapsulate(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Encapsulate", "ENCAPSULATE_DECAPSULATE")
    algorithm = _kem_algorithm(req)
    check_dry_run(req)
    try:
        secret, sealed = asymmetric.encapsulate(env.keyring.private_key(key))
    except asymmetric.UnsupportedSpec as exc:
        raise errors.SPEC_UNSUPPORTED(reason=str(exc)) from exc
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "SharedSecret": secret,
        "SharedSecretCiphertextBlob": sealed,
        "EncapsulationAlgorithm": algorithm,
    }


def decapsulate(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Decapsulate", "ENCAPSULATE_DECAPSULATE")
    algorithm = _kem_algorithm(req)
    check_dry_run(req)
    try:
        secret = asymmetric.decapsulate(
            env.keyring.private_key(key), req["SharedSecretCiphertextBlob"]
        )
    except asymmetric.CryptoError as exc:
        detail = "the encapsulated shared secret is not valid"
        raise errors.INVALID_CIPHERTEXT(detail=detail) from exc
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "SharedSecret": secret,
        "EncapsulationAlgorithm": algorithm,
    }


HANDLERS = {
    "DeriveSharedSecret": derive_shared_secret,
    "Encapsulate": encapsulate,
    "Decapsulate": decapsulate,
}
