"""The console's key list filter (over every key of the account, in storage, paged) and the
key page's grants with their Revoke action, over plain HTTP against a real ``trent serve``."""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest

from tests.console.pages import ConsoleClient
from tests.server import TrentServer

KEY_LINK = re.compile(r'class="key-link">([0-9a-f-]{36})<')
NEXT = re.compile(r'href="/console/keys\?([^"]+)" id="next-page"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("console-keys") / "data")
    trent.start()
    yield trent
    trent.stop()


@pytest.fixture
def console(server: TrentServer) -> ConsoleClient:
    client = ConsoleClient(server.endpoint)
    assert client.sign_in(*server.credentials()).status == 303
    return client


def listed(console: ConsoleClient, query: dict[str, str]) -> tuple[list[str], str | None, str]:
    """The key ids of one list page, its next page's query string (None: last page), its text."""
    page = console.request("GET", "/console/keys?" + urllib.parse.urlencode(query))
    text = page.data.decode()
    assert page.status == 200, text
    following = NEXT.search(text)
    return KEY_LINK.findall(text), following and following.group(1).replace("&amp;", "&"), text


def test_the_filter_searches_every_key_across_pages(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    tag = uuid.uuid4().hex[:10]
    matching = []
    for n in range(23):  # interleaved with keys that do not match: more than one page of each
        matching.append(kms.create_key(Description=f"Payroll {tag} #{n}")["KeyMetadata"]["KeyId"])
        kms.create_key(Description=f"other {n}")
    first, following, _ = listed(console, {"filter": tag.upper()})  # any case
    assert len(first) == 20 and following is not None
    assert "filter=" + tag.upper() in following
    second, last, _ = listed(console, dict(urllib.parse.parse_qsl(following)))
    assert last is None
    assert sorted(first + second) == sorted(matching)
    assert first + second == sorted(matching)  # key id order, as ListKeys
    # an alias substring and a key id prefix find their key, wherever it is
    kms.create_alias(AliasName=f"alias/team-{tag}-billing", TargetKeyId=matching[7])
    assert listed(console, {"filter": f"{tag}-BILL"})[0] == [matching[7]]
    assert matching[11] in listed(console, {"filter": matching[11][:13]})[0]
    # the unfiltered list still pages through every key with ListKeys' markers
    assert len(listed(console, {})[0]) == 20


def test_state_and_spec_selects_narrow_the_filter(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    tag = uuid.uuid4().hex[:10]
    ids = [kms.create_key(Description=f"{tag} {n}")["KeyMetadata"]["KeyId"] for n in range(4)]
    signing = kms.create_key(Description=tag, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    for key_id in ids[1], ids[3]:
        kms.disable_key(KeyId=key_id)
    disabled, following, _ = listed(console, {"filter": tag, "state": "Disabled"})
    assert disabled == sorted([ids[1], ids[3]]) and following is None
    signer = signing["KeyMetadata"]["KeyId"]
    assert listed(console, {"filter": tag, "usage": "SIGN_VERIFY"})[0] == [signer]
    assert listed(console, {"filter": tag, "spec": "ECC_NIST_P256", "state": "Enabled"})[0] == [
        signer
    ]
    every_disabled = listed(console, {"state": "Disabled"})[0]
    assert set(every_disabled) >= {ids[1], ids[3]}
    for key_id in every_disabled:
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_no_match_bad_select_and_bad_marker_get_the_apis_words(console: ConsoleClient) -> None:
    keys, following, text = listed(console, {"filter": f"no-such-{uuid.uuid4().hex}"})
    assert keys == [] and following is None
    assert "No keys match the filter." in text
    bad = console.request("GET", "/console/keys?state=Melted")
    assert bad.status == 400
    assert (
        "ValidationException: 1 validation error detected: Value &#39;Melted&#39; at "
        "&#39;keyState&#39; failed to satisfy constraint: Member must satisfy enum value set: "
        "[Enabled, " in bad.data.decode()
    )
    marker = console.request("GET", "/console/keys?filter=a&marker=bm90LWEtbWFya2Vy")
    assert marker.status == 400
    assert "InvalidMarkerException" in marker.data.decode()


def test_the_filter_needs_kms_list_keys_and_is_audited_as_list_keys(server: TrentServer) -> None:
    iam = server.client("iam")
    name = f"no-list-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(policy))
    access = iam.create_access_key(UserName=name)["AccessKey"]
    client = ConsoleClient(server.endpoint)
    assert client.sign_in(access["AccessKeyId"], access["SecretAccessKey"]).status == 303
    refused = client.request("GET", "/console/keys?filter=payroll")
    assert refused.status == 400
    assert f":user/{name} is not authorized to perform: kms:ListKeys" in refused.data.decode()
    records = [
        r
        for r in server.audit_records()
        if r.get("eventName") == "ListKeys"
        and r["userIdentity"].get("userName") == name
        and r.get("errorCode") == "AccessDeniedException"
    ]
    assert len(records) == 1
    assert records[0]["userAgent"].startswith("trent-console")


def test_the_key_page_lists_grants_and_revokes_one_with_confirmation(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee = server.client("sts").get_caller_identity()["Arn"]
    kept = kms.create_grant(
        KeyId=key_id, GranteePrincipal=grantee, Operations=["Decrypt"], Name="keep-me"
    )["GrantId"]
    doomed = kms.create_grant(
        KeyId=key_id, GranteePrincipal=grantee, Operations=["Encrypt", "Decrypt"]
    )["GrantId"]
    path = f"/console/keys/{key_id}"
    page = console.request("GET", path).data.decode()
    assert kept in page and doomed in page and "keep-me" in page and "Encrypt, Decrypt" in page

    unconfirmed = console.post(
        f"{path}/revoke-grant", {"csrf_token": console.csrf(path), "grant_id": doomed}
    )
    assert unconfirmed.status == 400
    assert "Confirm the revocation of the grant." in unconfirmed.data.decode()
    no_token = console.post(f"{path}/revoke-grant", {"grant_id": doomed, "confirm": "yes"})
    assert no_token.status == 403
    live = {g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]}
    assert live == {kept, doomed}

    revoked = console.post(
        f"{path}/revoke-grant",
        {"csrf_token": console.csrf(path), "grant_id": doomed, "confirm": "yes"},
    )
    assert revoked.status == 303
    assert "Grant+revoked" in revoked.headers["location"]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [kept]
    page = console.request("GET", path).data.decode()
    assert kept in page and doomed not in page

    again = console.post(
        f"{path}/revoke-grant",
        {"csrf_token": console.csrf(path), "grant_id": doomed, "confirm": "yes"},
    )
    assert again.status == 400
    assert "InvalidGrantIdException" in again.data.decode()
    records = [
        r
        for r in server.audit_records()
        if r.get("eventName") == "RevokeGrant" and r.get("errorCode") is None
    ]
    assert len(records) == 1
    assert records[0]["userAgent"].startswith("trent-console")
    assert records[0]["requestParameters"]["grantId"] == doomed
