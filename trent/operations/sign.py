"""Signatures: Sign, Verify, and GetPublicKey (for every asymmetric key)."""

from __future__ import annotations

from typing import Any

from trent.crypto import asymmetric
from trent.crypto.keyspecs import algorithm_fields
from trent.crypto.signing import MU_BYTES, message_types
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run, offload
from trent.operations.keyuse import check_algorithm, key_for
from trent.operations.states import check_state
from trent.store import KeyRow

_DIGEST_BYTES = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}


def _message_type(req: Request) -> str:
    return str(req.get("MessageType") or "RAW")


def _check_message(key: KeyRow, algorithm: str, message: bytes, message_type: str) -> None:
    """AWS's ValidationExceptions for a message that does not fit the algorithm [LS-snap,
    issue 9]: a MessageType the algorithm does not take (ML-DSA keys name their key spec), a
    DIGEST of the wrong length (and an EXTERNAL_MU that is not 64 bytes)."""
    if message_type not in message_types(algorithm):
        if key.key_spec.startswith("ML_DSA"):
            raise errors.MESSAGE_TYPE_FOR_SPEC(message_type=message_type, spec=key.key_spec)
        raise errors.MESSAGE_TYPE_FOR_ALGORITHM(message_type=message_type, algorithm=algorithm)
    if message_type == "DIGEST":
        expected = _DIGEST_BYTES.get(algorithm[-7:])
        if expected is not None and len(message) != expected:
            raise errors.DIGEST_LENGTH(
                algorithm=algorithm, detail=f"{len(message)} bytes, not {expected}"
            )
    if message_type == "EXTERNAL_MU" and len(message) != MU_BYTES:
        raise errors.MU_LENGTH(algorithm=algorithm, detail=f"{len(message)} bytes, not {MU_BYTES}")


def sign(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Sign", "SIGN_VERIFY")
    algorithm = req["SigningAlgorithm"]
    check_algorithm(env, key, algorithm, "Sign")
    _check_message(key, algorithm, req["Message"], _message_type(req))
    check_dry_run(req)
    private = env.keyring.private_key(key)
    arn = env.keyring.arn(key.key_id)
    message, message_type = req["Message"], _message_type(req)

    def signed() -> Response:
        try:
            signature = asymmetric.sign(private, algorithm, message, message_type)
        except asymmetric.UnsupportedSpec as exc:
            raise errors.SPEC_UNSUPPORTED(reason=str(exc)) from exc
        return {"KeyId": arn, "Signature": signature, "SigningAlgorithm": algorithm}

    # an RSA private-key operation takes a millisecond or more: off the event loop
    return offload(call, signed) if key.key_spec.startswith("RSA_") else signed()


def verify(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Verify", "SIGN_VERIFY")
    algorithm = req["SigningAlgorithm"]
    check_algorithm(env, key, algorithm, "Verify")
    _check_message(key, algorithm, req["Message"], _message_type(req))
    check_dry_run(req)
    private = env.keyring.private_key(key)
    try:
        asymmetric.verify(private, algorithm, req["Message"], _message_type(req), req["Signature"])
    except asymmetric.UnsupportedSpec as exc:
        raise errors.SPEC_UNSUPPORTED(reason=str(exc)) from exc
    except asymmetric.InvalidSignature as exc:
        raise errors.INVALID_SIGNATURE(detail="the signature does not verify") from exc
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "SignatureValid": True,
        "SigningAlgorithm": algorithm,
    }


def get_public_key(env: Env, call: Call, req: Request) -> Response:
    key = env.keyring.resolve(req["KeyId"])
    env.authorize(call, "GetPublicKey", key)
    arn = env.keyring.arn(key.key_id)
    if key.key_spec == "SYMMETRIC_DEFAULT" or key.key_spec.startswith("HMAC"):
        raise errors.NO_PUBLIC_KEY(arn=arn, spec=key.key_spec)
    check_state("GetPublicKey", key.state, arn)
    response: dict[str, Any] = {
        "KeyId": arn,
        "PublicKey": env.keyring.public_key(key),
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "KeyUsage": key.key_usage,
    }
    response.update(algorithm_fields(key.key_spec, key.key_usage))
    return response


HANDLERS = {"Sign": sign, "Verify": verify, "GetPublicKey": get_public_key}
