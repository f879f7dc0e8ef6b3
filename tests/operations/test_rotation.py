"""Key rotation through boto3: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand and ListKeyRotations."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config

from tests.expect import expect_error
from tests.server import TrentServer

HEX64 = frozenset("0123456789abcdef")


@pytest.fixture(scope="module")
def raw_kms(server: TrentServer) -> Any:
    """A client without botocore's own parameter validation, so the server's answers show."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
    return server.client(config=config)


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


def current_material(kms: Any, key_id: str) -> str:
    return str(describe(kms, key_id)["CurrentKeyMaterialId"])


def near(when: datetime, target: datetime, slack: float = 300.0) -> bool:
    return abs((when - target).total_seconds()) <= slack


def all_rotations(kms: Any, key_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(kms.list_key_rotations(KeyId=key_id, **kwargs)["Rotations"])


# --- automatic rotation settings -------------------------------------------------------------
def test_new_key_rotation_disabled(kms: Any, key_id: str) -> None:
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == describe(kms, key_id)["KeyId"]  # the bare key id [issue 9]
    assert "OnDemandRotationStartDate" not in status


def test_enable_key_rotation_default_period(kms: Any, key_id: str) -> None:
    before = datetime.now(UTC)
    out = kms.enable_key_rotation(KeyId=key_id)
    assert set(out) == {"ResponseMetadata"}
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    assert near(status["NextRotationDate"], before + timedelta(days=365))
    # Enabling rotation does not rotate.
    assert all_rotations(kms, key_id) == []


@pytest.mark.parametrize("days", [90, 180, 2560])
def test_enable_key_rotation_custom_period(kms: Any, key_id: str, days: int) -> None:
    before = datetime.now(UTC)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == days
    assert near(status["NextRotationDate"], before + timedelta(days=days))


def test_enable_key_rotation_changes_the_period(kms: Any, key_id: str) -> None:
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=400)
    before = datetime.now(UTC)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=100)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["RotationPeriodInDays"] == 100
    assert near(status["NextRotationDate"], before + timedelta(days=100))


@pytest.mark.parametrize(
    ("days", "bound"),
    [(89, "greater than or equal to 90"), (2561, "less than or equal to 2560")],
)
def test_rotation_period_bounds(raw_kms: Any, key_id: str, days: int, bound: str) -> None:
    expect_error(
        raw_kms.enable_key_rotation,
        "ValidationException",
        f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to "
        f"satisfy constraint: Member must have value {bound}",
        KeyId=key_id,
        RotationPeriodInDays=days,
    )
    assert raw_kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_disable_key_rotation(kms: Any, key_id: str) -> None:
    kms.enable_key_rotation(KeyId=key_id)
    out = kms.disable_key_rotation(KeyId=key_id)
    assert set(out) == {"ResponseMetadata"}
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_enable_key_rotation_on_disabled_key(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    arn = describe(kms, key_id)["Arn"]
    expect_error(kms.enable_key_rotation, "DisabledException", f"{arn} is disabled.", KeyId=key_id)


def test_rotation_status_while_pending_deletion(kms: Any, key_id: str) -> None:
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=120)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=key_id)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 120


# --- RotateKeyOnDemand -----------------------------------------------------------------------
def test_rotate_keeps_identity_and_every_material_decrypts(
    kms: Any, key_id: str, alias_name: str
) -> None:
    kms.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "crypto"}])
    before = describe(kms, key_id)
    tags_before = kms.list_resource_tags(KeyId=key_id)["Tags"]

    # One ciphertext per material: the first, then after each of three rotations.
    samples: list[tuple[str, bytes, bytes]] = []
    for round_ in range(4):
        if round_:
            out = kms.rotate_key_on_demand(KeyId=key_id)
            assert out["KeyId"].endswith(key_id)
        material = current_material(kms, key_id)
        plaintext = f"written under material {round_}".encode()
        context = {"round": str(round_)}
        blob = kms.encrypt(KeyId=alias_name, Plaintext=plaintext, EncryptionContext=context)[
            "CiphertextBlob"
        ]
        assert blob[17:49].hex() == material  # new ciphertext uses the current material
        samples.append((material, blob, plaintext))

    materials = [m for m, _, _ in samples]
    assert len(set(materials)) == 4
    assert all(len(m) == 64 and set(m) <= HEX64 for m in materials)
    assert materials[0] == before["CurrentKeyMaterialId"]

    after = describe(kms, key_id)
    assert after["KeyId"] == before["KeyId"]
    assert after["Arn"] == before["Arn"]
    assert after["CreationDate"] == before["CreationDate"]
    assert after["CurrentKeyMaterialId"] == materials[-1]
    assert describe(kms, alias_name)["KeyId"] == key_id
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == [alias_name]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == tags_before

    for round_, (material, blob, plaintext) in enumerate(samples):
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"round": str(round_)})
        assert out["Plaintext"] == plaintext
        assert out["KeyMaterialId"] == material
        assert out["KeyId"] == before["Arn"]


def test_rotate_data_keys_and_re_encrypt_to_current_material(kms: Any, key_id: str) -> None:
    old = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    kms.rotate_key_on_demand(KeyId=key_id)
    new_material = current_material(kms, key_id)
    assert old["KeyMaterialId"] != new_material
    fresh = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert fresh["KeyMaterialId"] == new_material
    out = kms.re_encrypt(CiphertextBlob=old["CiphertextBlob"], DestinationKeyId=key_id)
    assert out["SourceKeyMaterialId"] == old["KeyMaterialId"]
    assert out["DestinationKeyMaterialId"] == new_material
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert back["Plaintext"] == old["Plaintext"]
    assert back["KeyMaterialId"] == new_material


def test_rotate_does_not_change_the_automatic_schedule(kms: Any, key_id: str) -> None:
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=200)
    scheduled = kms.get_key_rotation_status(KeyId=key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 200
    assert status["NextRotationDate"] == scheduled["NextRotationDate"]


def test_rotate_on_demand_with_automatic_rotation_disabled(kms: Any, key_id: str) -> None:
    kms.enable_key_rotation(KeyId=key_id)
    kms.disable_key_rotation(KeyId=key_id)
    first = current_material(kms, key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    assert current_material(kms, key_id) != first
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_rotate_disabled_key(kms: Any, key_id: str) -> None:
    kms.disable_key(KeyId=key_id)
    arn = describe(kms, key_id)["Arn"]
    material = current_material(kms, key_id)
    expect_error(kms.rotate_key_on_demand, "DisabledException", f"{arn} is disabled.", KeyId=key_id)
    assert current_material(kms, key_id) == material


def test_rotate_pending_deletion_key(kms: Any, key_id: str) -> None:
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    arn = describe(kms, key_id)["Arn"]
    expect_error(
        kms.rotate_key_on_demand,
        "KMSInvalidStateException",
        f"{arn} is pending deletion.",
        KeyId=key_id,
    )


def test_rotate_unknown_key(kms: Any) -> None:
    expect_error(
        kms.rotate_key_on_demand,
        "NotFoundException",
        "does not exist",
        KeyId="00000000-0000-4000-8000-000000000000",
    )


def test_on_demand_rotation_limit(kms: Any, key_id: str) -> None:
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key_id)
    material = current_material(kms, key_id)
    message = expect_error(kms.rotate_key_on_demand, "LimitExceededException", "", KeyId=key_id)
    assert "limit" in message.lower(), message
    assert current_material(kms, key_id) == material
    rotations = all_rotations(kms, key_id)
    assert len(rotations) == 25
    assert len(all_rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")) == 26
    # The key still works after the limit.
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"still")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == material


# --- ListKeyRotations ------------------------------------------------------------------------
def test_list_key_rotations_never_rotated(kms: Any, key_id: str) -> None:
    out = kms.list_key_rotations(KeyId=key_id)
    assert out["Rotations"] == []
    assert out["Truncated"] is False
    everything = all_rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert len(everything) == 1
    entry = everything[0]
    assert entry["KeyMaterialId"] == current_material(kms, key_id)
    assert entry["KeyMaterialState"] == "CURRENT"
    assert "RotationDate" not in entry
    assert "RotationType" not in entry


def test_list_key_rotations(kms: Any, key_id: str) -> None:
    arn = describe(kms, key_id)["Arn"]
    first = current_material(kms, key_id)
    rotated = []
    start = datetime.now(UTC)
    for _ in range(3):
        kms.rotate_key_on_demand(KeyId=key_id)
        rotated.append(current_material(kms, key_id))
    end = datetime.now(UTC)

    out = kms.list_key_rotations(KeyId=key_id)
    assert out["Truncated"] is False
    assert "NextMarker" not in out
    entries = {e["KeyMaterialId"]: e for e in out["Rotations"]}
    assert len(out["Rotations"]) == 3
    assert set(entries) == set(rotated)  # ROTATIONS_ONLY: not the first material
    for material, entry in entries.items():
        assert entry["KeyId"] == arn
        assert entry["RotationType"] == "ON_DEMAND"
        assert start - timedelta(seconds=5) <= entry["RotationDate"] <= end + timedelta(seconds=5)
        expected = "CURRENT" if material == rotated[-1] else "NON_CURRENT"
        assert entry["KeyMaterialState"] == expected, entry
    explicit = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ROTATIONS_ONLY")
    assert explicit["Rotations"] == out["Rotations"]

    everything = all_rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert len(everything) == 4
    by_id = {e["KeyMaterialId"]: e for e in everything}
    assert set(by_id) == {first, *rotated}
    assert by_id[first]["KeyMaterialState"] == "NON_CURRENT"
    assert by_id[first]["KeyId"] == arn
    assert "RotationDate" not in by_id[first]
    assert "RotationType" not in by_id[first]
    for material in rotated:
        assert by_id[material] == entries[material]


def test_list_key_rotations_paging(kms: Any, key_id: str) -> None:
    for _ in range(3):
        kms.rotate_key_on_demand(KeyId=key_id)
    for include in ("ROTATIONS_ONLY", "ALL_KEY_MATERIAL"):
        whole = all_rotations(kms, key_id, IncludeKeyMaterial=include)
        pages: list[dict[str, Any]] = []
        args: dict[str, Any] = {"KeyId": key_id, "Limit": 1, "IncludeKeyMaterial": include}
        while True:
            out = kms.list_key_rotations(**args)
            assert len(out["Rotations"]) == 1
            pages += out["Rotations"]
            if not out["Truncated"]:
                assert "NextMarker" not in out
                break
            args["Marker"] = out["NextMarker"]
            assert len(pages) < 10, "paging does not end"
        assert pages == whole
        assert len({p["KeyMaterialId"] for p in pages}) == len(whole)


@pytest.mark.parametrize(
    "marker",
    [
        "!!not a marker!!",
        base64.urlsafe_b64encode(b"abc").decode(),
        base64.urlsafe_b64encode(b"not-a-number").decode(),
        # Trent's own marker prefix with a made-up position.
        base64.urlsafe_b64encode(b"trent-page:not-a-number").decode(),
    ],
    ids=["garbage", "base64-abc", "base64-word", "prefixed-word"],
)
def test_list_key_rotations_bad_marker(kms: Any, key_id: str, marker: str) -> None:
    """A marker the server never issued answers InvalidMarkerException, never a 500."""
    kms.rotate_key_on_demand(KeyId=key_id)
    expect_error(kms.list_key_rotations, "InvalidMarkerException", "", KeyId=key_id, Marker=marker)
