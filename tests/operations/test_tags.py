"""Tags through boto3: TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.expect import expect_error


def tags_of(kms: Any, key_id: str) -> dict[str, str]:
    """Every tag of the key, following markers."""
    tags: dict[str, str] = {}
    marker: str | None = None
    while True:
        page = kms.list_resource_tags(KeyId=key_id, **({"Marker": marker} if marker else {}))
        for tag in page["Tags"]:
            assert tag["TagKey"] not in tags
            tags[tag["TagKey"]] = tag["TagValue"]
        if not page["Truncated"]:
            return tags
        marker = page["NextMarker"]


def tag_list(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in pairs.items()]


def test_new_key_has_no_tags(kms: Any, key_id: str) -> None:
    listed = kms.list_resource_tags(KeyId=key_id)
    assert listed["Tags"] == []
    assert listed["Truncated"] is False


def test_tag_list_untag_round_trip(kms: Any, key_id: str) -> None:
    kms.tag_resource(
        KeyId=key_id, Tags=tag_list({"team": "payments", "env": "prod", "Team": "other"})
    )
    # Keys are case-sensitive: "team" and "Team" are two tags.
    assert tags_of(kms, key_id) == {"team": "payments", "env": "prod", "Team": "other"}
    kms.untag_resource(KeyId=key_id, TagKeys=["env", "Team"])
    assert tags_of(kms, key_id) == {"team": "payments"}


def test_tag_by_key_arn(kms: Any, key_id: str) -> None:
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    kms.tag_resource(KeyId=arn, Tags=tag_list({"a": "1"}))
    assert kms.list_resource_tags(KeyId=arn)["Tags"] == [{"TagKey": "a", "TagValue": "1"}]
    kms.untag_resource(KeyId=arn, TagKeys=["a"])
    assert tags_of(kms, key_id) == {}


def test_tag_overwrites_existing_value(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"owner": "alice", "cost": "1"}))
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"owner": "bob"}))
    assert tags_of(kms, key_id) == {"owner": "bob", "cost": "1"}


def test_empty_tag_value_allowed(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"flag": ""}))
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "flag", "TagValue": ""}]


@pytest.mark.parametrize("tag_key", ["aws:createdBy", "aws:x"])
def test_aws_prefix_refused(kms: Any, key_id: str, tag_key: str) -> None:
    expect_error(
        kms.tag_resource,
        "TagException",
        "aws:",
        KeyId=key_id,
        Tags=tag_list({"fine": "yes", tag_key: "v"}),
    )
    # Nothing from the refused request is stored.
    assert tags_of(kms, key_id) == {}


def test_aws_prefix_refused_at_create_key(kms: Any) -> None:
    expect_error(kms.create_key, "TagException", "aws:", Tags=tag_list({"aws:owner": "me"}))


def test_fiftieth_tag_accepted_fifty_first_refused(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({f"k{i:02d}": str(i) for i in range(50)}))
    assert len(tags_of(kms, key_id)) == 50
    expect_error(
        kms.tag_resource,
        "LimitExceededException",
        "",
        KeyId=key_id,
        Tags=tag_list({"one-too-many": "x"}),
    )
    tags = tags_of(kms, key_id)
    assert len(tags) == 50
    assert "one-too-many" not in tags
    # Overwriting an existing tag does not add one, so it is allowed at the limit.
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"k00": "changed"}))
    assert tags_of(kms, key_id)["k00"] == "changed"


def test_tag_limit_is_atomic(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({f"k{i:02d}": str(i) for i in range(49)}))
    before = tags_of(kms, key_id)
    assert len(before) == 49
    # One request that would make 51: an overwrite, a 50th and a 51st tag.
    expect_error(
        kms.tag_resource,
        "LimitExceededException",
        "",
        KeyId=key_id,
        Tags=tag_list({"k00": "overwritten", "new-50": "a", "new-51": "b"}),
    )
    assert tags_of(kms, key_id) == before
    # The 50th alone still fits.
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"new-50": "a"}))
    assert len(tags_of(kms, key_id)) == 50


def test_untag_missing_key_is_not_an_error(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"keep": "me"}))
    out = kms.untag_resource(KeyId=key_id, TagKeys=["never-set", "also-missing"])
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert tags_of(kms, key_id) == {"keep": "me"}


def test_list_resource_tags_paging(kms: Any, key_id: str) -> None:
    wanted = {f"tag-{i}": f"value-{i}" for i in range(5)}
    kms.tag_resource(KeyId=key_id, Tags=tag_list(wanted))
    seen: dict[str, str] = {}
    marker: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"KeyId": key_id, "Limit": 2}
        if marker is not None:
            kwargs["Marker"] = marker
        page = kms.list_resource_tags(**kwargs)
        pages += 1
        assert len(page["Tags"]) <= 2
        for tag in page["Tags"]:
            assert tag["TagKey"] not in seen
            seen[tag["TagKey"]] = tag["TagValue"]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert len(page["Tags"]) == 2
        marker = page["NextMarker"]
        assert pages < 10
    assert seen == wanted
    assert pages == 3


def test_list_resource_tags_limit_too_large(kms: Any, key_id: str) -> None:
    expect_error(kms.list_resource_tags, "ValidationException", "50", KeyId=key_id, Limit=51)


def test_list_resource_tags_bad_marker(kms: Any, key_id: str) -> None:
    expect_error(
        kms.list_resource_tags,
        "InvalidMarkerException",
        "",
        KeyId=key_id,
        Marker="%%% not a marker %%%",
    )


def test_tag_key_too_long(kms: Any, key_id: str) -> None:
    long_key = "k" * 129
    message = expect_error(
        kms.tag_resource,
        "ValidationException",
        "",
        KeyId=key_id,
        Tags=tag_list({long_key: "v"}),
    )
    assert message == (
        f"1 validation error detected: Value '{long_key}' at 'tags.1.member.tagKey' failed to "
        "satisfy constraint: Member must have length less than or equal to 128"
    )
    assert tags_of(kms, key_id) == {}


def test_tag_value_too_long_second_tag(kms: Any, key_id: str) -> None:
    long_value = "v" * 257
    message = expect_error(
        kms.tag_resource,
        "ValidationException",
        "",
        KeyId=key_id,
        Tags=tag_list({"ok": "fine", "bad": long_value}),
    )
    assert message == (
        f"1 validation error detected: Value '{long_value}' at 'tags.2.member.tagValue' failed "
        "to satisfy constraint: Member must have length less than or equal to 256"
    )
    assert tags_of(kms, key_id) == {}


def test_tag_key_boundary_lengths(kms: Any, key_id: str) -> None:
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"k" * 128: "v" * 256}))
    assert tags_of(kms, key_id) == {"k" * 128: "v" * 256}


def test_tags_of_pending_deletion_key(kms: Any, key_id: str) -> None:
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    kms.tag_resource(KeyId=key_id, Tags=tag_list({"a": "1"}))
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    message = expect_error(
        kms.tag_resource,
        "KMSInvalidStateException",
        "is pending deletion.",
        KeyId=key_id,
        Tags=tag_list({"b": "2"}),
    )
    assert message == f"{arn} is pending deletion."
    message = expect_error(
        kms.untag_resource,
        "KMSInvalidStateException",
        "is pending deletion.",
        KeyId=key_id,
        TagKeys=["a"],
    )
    assert message == f"{arn} is pending deletion."
    # Listing works in every key state.
    assert tags_of(kms, key_id) == {"a": "1"}


def test_tags_of_unknown_key(kms: Any) -> None:
    missing = str(uuid.uuid4())
    expect_error(kms.list_resource_tags, "NotFoundException", missing, KeyId=missing)
    expect_error(
        kms.tag_resource,
        "NotFoundException",
        missing,
        KeyId=missing,
        Tags=tag_list({"a": "1"}),
    )


def all_key_ids(kms: Any) -> set[str]:
    ids: set[str] = set()
    marker: str | None = None
    while True:
        page = kms.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
        ids |= {k["KeyId"] for k in page["Keys"]}
        if not page["Truncated"]:
            return ids
        marker = page["NextMarker"]


def test_create_key_with_too_many_tags_creates_nothing(kms: Any) -> None:
    before = all_key_ids(kms)
    with pytest.raises(ClientError) as info:
        kms.create_key(Tags=tag_list({f"k{i:02d}": "v" for i in range(51)}))
    err = info.value.response
    # AWS: TagException "Too many tags" [LS-snap; issue 9]
    assert err["Error"] == {"Code": "TagException", "Message": "Too many tags"}, err["Error"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert all_key_ids(kms) == before
