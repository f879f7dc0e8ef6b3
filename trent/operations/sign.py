"""Signatures: Sign, Verify, and GetPublicKey (for every asymmetric key)."""

from __future__ import annotations

from typing import Any

from trent.crypto import asymmetric
from trent.crypto.keyspecs import algorithm_fields
from trent.errors import (
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.keyuse import check_algorithm, key_for
from trent.operations.states import check_state


def _message_type(req: Request) -> str:
    return str(req.get("MessageType") or "RAW")


def sign(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Sign", "SIGN_VERIFY")
    algorithm = req["SigningAlgorithm"]
    check_algorithm(env, key, algorithm, "Sign")
    check_dry_run(req)
    private = env.keyring.private_key(key)
    try:
        signature = asymmetric.sign(private, algorithm, req["Message"], _message_type(req))
    except asymmetric.MessageError as exc:
        raise ValidationException(str(exc)) from exc
    except asymmetric.UnsupportedSpec as exc:
        raise UnsupportedOperationException(str(exc)) from exc
    return {
        "KeyId": env.keyring.arn(key.key_id),
        "Signature": signature,
        "SigningAlgorithm": algorithm,
    }


def verify(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "Verify", "SIGN_VERIFY")
    algorithm = req["SigningAlgorithm"]
    check_algorithm(env, key, algorithm, "Verify")
    check_dry_run(req)
    private = env.keyring.private_key(key)
    try:
        asymmetric.verify(private, algorithm, req["Message"], _message_type(req), req["Signature"])
    except asymmetric.MessageError as exc:
        raise ValidationException(str(exc)) from exc
    except asymmetric.UnsupportedSpec as exc:
        raise UnsupportedOperationException(str(exc)) from exc
    except asymmetric.InvalidSignature as exc:
        raise KMSInvalidSignatureException("The signature is not valid.") from exc
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
        raise UnsupportedOperationException(
            f"{arn} key spec is {key.key_spec}, which has no public key."
        )
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
