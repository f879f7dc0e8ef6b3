"""HMAC keys: GenerateMac and VerifyMac."""

from __future__ import annotations

from trent.crypto import asymmetric
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.keyuse import check_algorithm, key_for


def generate_mac(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "GenerateMac", "GENERATE_VERIFY_MAC")
    algorithm = req["MacAlgorithm"]
    check_algorithm(env, key, algorithm, "GenerateMac")
    check_dry_run(req)
    mac = asymmetric.generate_mac(env.keyring.hmac_key(key), algorithm, req["Message"])
    return {"Mac": mac, "MacAlgorithm": algorithm, "KeyId": env.keyring.arn(key.key_id)}


def verify_mac(env: Env, call: Call, req: Request) -> Response:
    key = key_for(env, call, req["KeyId"], "VerifyMac", "GENERATE_VERIFY_MAC")
    algorithm = req["MacAlgorithm"]
    check_algorithm(env, key, algorithm, "VerifyMac")
    check_dry_run(req)
    try:  # constant-time comparison inside
        asymmetric.verify_mac(env.keyring.hmac_key(key), algorithm, req["Message"], req["Mac"])
    except asymmetric.CryptoError as exc:
        raise errors.INVALID_MAC(detail="the MAC does not verify") from exc
    return {"KeyId": env.keyring.arn(key.key_id), "MacValid": True, "MacAlgorithm": algorithm}


HANDLERS = {"GenerateMac": generate_mac, "VerifyMac": verify_mac}
