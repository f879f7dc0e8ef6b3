"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh key pair whose private
key (PKCS#8 DER) comes back encrypted under a symmetric KMS key, and in the clear if asked."""

from __future__ import annotations

from trent.crypto.keyspecs import DATA_KEY_PAIR_SPECS
from trent.errors import catalogue as errors
from trent.operations import pregen
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.encrypt import seal_plaintext, usable_key


def _generate(env: Env, call: Call, req: Request, operation: str) -> Response:
    key = usable_key(env, call, req["KeyId"], operation)
    spec = req["KeyPairSpec"]
    if spec == "SM2":
        raise errors.SM2_KEY_PAIR()
    if spec not in DATA_KEY_PAIR_SPECS:
        raise errors.KEY_PAIR_SPEC_UNSUPPORTED(spec=spec)
    if "Recipient" in req:
        raise errors.NO_RECIPIENT()
    check_dry_run(req)
    private_der, public_der = pregen.data_key_pair(call, spec)
    blob, material = seal_plaintext(env, call, key, private_der, req.get("EncryptionContext"))
    return {
        "PrivateKeyCiphertextBlob": blob,
        "PrivateKeyPlaintext": private_der,
        "PublicKey": public_der,
        "KeyId": env.keyring.arn(key.key_id),
        "KeyPairSpec": spec,
        "KeyMaterialId": material.material_id,
    }


def generate_data_key_pair(env: Env, call: Call, req: Request) -> Response:
    return _generate(env, call, req, "GenerateDataKeyPair")


def generate_data_key_pair_without_plaintext(env: Env, call: Call, req: Request) -> Response:
    response = _generate(env, call, req, "GenerateDataKeyPairWithoutPlaintext")
    del response["PrivateKeyPlaintext"]
    return response


HANDLERS = {
    "GenerateDataKeyPair": generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext": generate_data_key_pair_without_plaintext,
}
