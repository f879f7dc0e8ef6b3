"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh key pair whose private
key (PKCS#8 DER) comes back encrypted under a symmetric KMS key, and in the clear if asked."""

from __future__ import annotations

from trent.crypto.keyspecs import DATA_KEY_PAIR_SPECS
from trent.errors import UnsupportedOperationException, ValidationException
from trent.operations import pregen
from trent.operations.context import Call, Env, Request, Response, check_dry_run
from trent.operations.encrypt import seal_plaintext, usable_key


def _generate(env: Env, call: Call, req: Request, operation: str) -> Response:
    key = usable_key(env, call, req["KeyId"], operation)
    spec = req["KeyPairSpec"]
    if spec == "SM2":
        raise ValidationException("The SM2 key pair spec is available only in China Regions.")
    if spec not in DATA_KEY_PAIR_SPECS:
        raise UnsupportedOperationException(f"Trent cannot generate {spec} key pairs.")
    if "Recipient" in req:
        raise ValidationException("Trent does not support attested (Recipient) requests.")
    check_dry_run(req)
    private_der, public_der = pregen.data_key_pair(call, spec)
    blob, material = seal_plaintext(env, key, private_der, req.get("EncryptionContext"))
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
