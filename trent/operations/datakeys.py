"""Envelope encryption: GenerateDataKey, GenerateDataKeyWithoutPlaintext, and GenerateRandom."""

from __future__ import annotations

from trent.crypto.material import random_bytes
from trent.errors import catalogue as errors
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.encrypt import seal_plaintext, usable_key
from trent.operations.keystores import find_store

KEY_SPEC_BYTES = {"AES_128": 16, "AES_256": 32}


def _data_key_length(req: Request) -> int:
    spec, count = req.get("KeySpec"), req.get("NumberOfBytes")
    if spec is not None and count is not None:
        raise errors.BYTES_AND_SPEC()
    if spec is None and count is None:
        raise errors.BYTES_OR_SPEC()
    return KEY_SPEC_BYTES[spec] if spec is not None else int(count or 0)


def _generate(env: Env, call: Call, req: Request, operation: str) -> Response:
    key = usable_key(env, call, req["KeyId"], operation)
    length = _data_key_length(req)
    check_dry_run(req)
    plaintext = random_bytes(length)
    blob, material = seal_plaintext(env, call, key, plaintext, req.get("EncryptionContext"))
    return {
        "CiphertextBlob": blob,
        "Plaintext": plaintext,
        "KeyId": env.keyring.arn(key.key_id),
        "KeyMaterialId": material.material_id,
        "KeyOrigin": key.origin,
    }


def generate_data_key(env: Env, call: Call, req: Request) -> Response:
    if "Recipient" in req:
        raise errors.NO_RECIPIENT()
    return _generate(env, call, req, "GenerateDataKey")


def generate_data_key_without_plaintext(env: Env, call: Call, req: Request) -> Response:
    response = _generate(env, call, req, "GenerateDataKeyWithoutPlaintext")
    del response["Plaintext"]
    return response


def generate_random(env: Env, call: Call, req: Request) -> Response:
    env.authorize(call, "GenerateRandom")
    if req.get("CustomKeyStoreId"):  # a store that exists is an external key store
        find_store(env, req["CustomKeyStoreId"])
        raise errors.RANDOM_FROM_EXTERNAL_STORE()
    if "Recipient" in req:
        raise errors.NO_RECIPIENT()
    count = req.get("NumberOfBytes")
    if count is None:
        raise errors.NUMBER_OF_BYTES_REQUIRED()
    return {"Plaintext": random_bytes(count)}


HANDLERS = {
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "GenerateRandom": generate_random,
}
