"""The console over plain HTTP (no browser), against a real ``trent serve``: sign-in, the
session cookie's flags and expiry, CSRF refusal, an action a policy refuses shown as the API's
``AccessDeniedException``, and the audit records of console actions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.pages import ConsoleClient
from tests.server import TrentServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("console-http") / "data", test_clock=True)
    trent.start()
    yield trent
    trent.stop()


@pytest.fixture
def console(server: TrentServer) -> ConsoleClient:
    client = ConsoleClient(server.endpoint)
    assert client.sign_in(*server.credentials()).status == 303
    return client


def test_pages_need_a_session(server: TrentServer) -> None:
    reply = ConsoleClient(server.endpoint).request("GET", "/console/keys")
    assert reply.status == 303
    assert reply.headers["location"] == "/console/signin"


def test_wrong_secret_and_unknown_key_are_refused_as_sigv4_refuses_them(
    server: TrentServer,
) -> None:
    access_key_id, secret = server.credentials()
    client = ConsoleClient(server.endpoint)
    wrong = client.sign_in(access_key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert wrong.status == 400
    assert "InvalidSignatureException: The request signature we calculated" in wrong.data.decode()
    assert "set-cookie" not in wrong.headers
    unknown = client.sign_in("AKIA" + "Z" * 16, secret)
    assert unknown.status == 400
    assert (
        "UnrecognizedClientException: The security token included in the request is invalid."
        in unknown.data.decode()
    )


def test_session_cookie_flags_and_no_secret_in_it(server: TrentServer) -> None:
    access_key_id, secret = server.credentials()
    reply = ConsoleClient(server.endpoint).sign_in(access_key_id, secret)
    assert reply.status == 303
    cookie = reply.headers["set-cookie"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in attributes
    assert "SameSite=Strict" in attributes
    assert "Path=/console" in attributes
    assert "Max-Age=3600" in attributes
    assert "Secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    value = attributes[0].split("=", 1)[1]
    sealed = base64.urlsafe_b64decode(value)
    for text in (secret, access_key_id):
        assert text.encode() not in sealed
        assert text not in value


def test_secure_cookie_over_tls(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "data", workers=1, tls=True).start()
    try:
        client = ConsoleClient(trent.endpoint, ca_certs=str(trent.ca_bundle))
        reply = client.sign_in(*trent.credentials())
        assert reply.status == 303
        attributes = [part.strip() for part in reply.headers["set-cookie"].split(";")]
        assert "Secure" in attributes
        assert client.request("GET", "/console/keys").status == 200
    finally:
        trent.stop()


def test_a_forged_cookie_is_no_session(server: TrentServer, console: ConsoleClient) -> None:
    name, value = console.cookie.split("=", 1)
    raw = bytearray(base64.urlsafe_b64decode(value))
    raw[-1] ^= 1
    console.cookie = f"{name}={base64.urlsafe_b64encode(bytes(raw)).decode()}"
    assert console.request("GET", "/console/keys").status == 303


def test_changes_without_the_csrf_token_are_refused(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    path = f"/console/keys/{key_id}/disable"
    missing = console.post(path, {})
    assert missing.status == 403
    assert "CSRF" in missing.data.decode()
    wrong = console.post(path, {"csrf_token": "x" * 43})
    assert wrong.status == 403
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    done = console.post(path, {"csrf_token": console.csrf()})
    assert done.status == 303
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_the_session_expires(server: TrentServer) -> None:
    client = ConsoleClient(server.endpoint)
    assert client.sign_in(*server.credentials()).status == 303
    assert client.request("GET", "/console/keys").status == 200
    server.advance_clock(seconds=3601)
    reply = client.request("GET", "/console/keys")
    assert reply.status == 303
    assert reply.headers["location"] == "/console/signin"


def test_schedule_deletion_needs_confirmation_and_checks_the_window(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    path = f"/console/keys/{key_id}/schedule-deletion"
    unconfirmed = console.post(path, {"csrf_token": console.csrf(), "pending_days": "7"})
    assert unconfirmed.status == 400
    assert "Confirm the deletion" in unconfirmed.data.decode()
    too_short = console.post(
        path, {"csrf_token": console.csrf(), "pending_days": "6", "confirm": "yes"}
    )
    assert too_short.status == 400
    assert "ValidationException" in too_short.data.decode()
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_policy_validation_errors_are_shown_as_the_api_words_them(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    try:
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy="{not json")
    except kms.exceptions.ClientError as exc:
        expected = exc.response["Error"]
    reply = console.post(
        f"/console/keys/{key_id}/policy", {"csrf_token": console.csrf(), "policy": "{not json"}
    )
    assert reply.status == 400
    page = reply.data.decode()
    assert f"{expected['Code']}: {expected['Message']}" in page.replace("&#39;", "'").replace(
        "&#34;", '"'
    )


def _user_console(server: TrentServer, name: str, policy: dict[str, Any]) -> ConsoleClient:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    client = ConsoleClient(server.endpoint)
    assert client.sign_in(key["AccessKeyId"], key["SecretAccessKey"]).status == 303
    return client


def test_an_action_the_policy_refuses_is_access_denied(server: TrentServer) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    read_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:Describe*", "kms:List*", "kms:Get*"],
                "Resource": "*",
            }
        ],
    }
    console = _user_console(server, "console-reader", read_only)
    page = console.request("GET", f"/console/keys/{key_id}")
    assert page.status == 200
    reply = console.post(f"/console/keys/{key_id}/disable", {"csrf_token": console.csrf()})
    assert reply.status == 400
    text = reply.data.decode()
    assert "AccessDeniedException: User: arn:aws:iam::" in text
    assert ":user/console-reader is not authorized to perform: kms:DisableKey" in text
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    refused = [
        r
        for r in server.audit_records()
        if r.get("eventName") == "DisableKey" and r.get("errorCode") == "AccessDeniedException"
    ]
    assert refused
    assert refused[-1]["userIdentity"]["userName"] == "console-reader"
    assert refused[-1]["userAgent"].startswith("trent-console")


def test_console_actions_are_audited_as_the_principal(
    server: TrentServer, console: ConsoleClient
) -> None:
    reply = console.post(
        "/console/keys",
        {"csrf_token": console.csrf(), "description": "from the console", "alias": "audited"},
    )
    assert reply.status == 303
    key_id = reply.headers["location"].split("/")[-1].split("?")[0]
    created = [
        r
        for r in server.audit_records()
        if r.get("eventName") == "CreateAlias"
        and r.get("errorCode") is None
        and (r.get("requestParameters") or {}).get("targetKeyId") == key_id
    ]
    assert len(created) == 1
    record = created[0]
    assert record["userAgent"].startswith("trent-console")
    assert record["userIdentity"]["accessKeyId"] == server.credentials()[0]
    metadata = server.client().describe_key(KeyId="alias/audited")["KeyMetadata"]
    assert metadata["KeyId"] == key_id
    assert metadata["Description"] == "from the console"


def test_temporary_credentials_sign_in_with_their_session_token(server: TrentServer) -> None:
    account = server.client("sts").get_caller_identity()["Account"]
    iam = server.client("iam")
    allow_assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    iam.create_user(UserName="console-assumer")
    iam.put_user_policy(
        UserName="console-assumer", PolicyName="assume", PolicyDocument=json.dumps(allow_assume)
    )
    user_key = iam.create_access_key(UserName="console-assumer")["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/console-assumer"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="ConsoleOperator", AssumeRolePolicyDocument=json.dumps(trust))
    allow_kms = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName="ConsoleOperator", PolicyName="kms", PolicyDocument=json.dumps(allow_kms)
    )
    sts = server.client(
        "sts",
        aws_access_key_id=user_key["AccessKeyId"],
        aws_secret_access_key=user_key["SecretAccessKey"],
    )
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/ConsoleOperator", RoleSessionName="web"
    )["Credentials"]
    client = ConsoleClient(server.endpoint)
    without = client.sign_in(credentials["AccessKeyId"], credentials["SecretAccessKey"])
    assert without.status == 400
    assert "UnrecognizedClientException" in without.data.decode()
    reply = client.sign_in(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert reply.status == 303
    assert credentials["SessionToken"] not in reply.headers["set-cookie"]
    created = client.post("/console/keys", {"csrf_token": client.csrf()})
    assert created.status == 303
    key_id = created.headers["location"].split("/")[-1].split("?")[0]
    records = [
        r
        for r in server.audit_records()
        if r.get("eventName") == "CreateKey"
        and (r.get("responseElements") or {}).get("keyMetadata", {}).get("keyId") == key_id
    ]
    assert len(records) == 1
    assert records[0]["userIdentity"]["arn"].endswith(":assumed-role/ConsoleOperator/web")


def test_bad_input_gets_the_apis_error_never_a_500(
    server: TrentServer, console: ConsoleClient
) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    token = console.csrf()
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    cases = [
        ("GET", f"/console/keys/{missing}", {}, "NotFoundException"),
        ("GET", "/console/keys?key=alias/none-such", {}, "NotFoundException"),
        (
            "POST",
            f"/console/keys/{key_id}/schedule-deletion",
            {"pending_days": "abc", "confirm": "yes"},
            "SerializationException",
        ),
        (
            "POST",
            f"/console/keys/{key_id}/enable-rotation",
            {"rotation_days": "5"},
            "ValidationException",
        ),
        ("POST", "/console/keys", {"key_spec": "NOPE"}, "ValidationException"),
        ("POST", "/console/keys", {"tags": "no equals sign"}, "Tags: write one Key=Value"),
        (
            "POST",
            f"/console/keys/{external}/import",
            {"import_token": "!!", "encrypted_key_material": "AAAA"},
            "ImportToken: paste the file's base64",
        ),
        (
            "POST",
            f"/console/keys/{external}/import",
            {"import_token": "AAAA", "encrypted_key_material": "AAAA"},
            "InvalidImportTokenException",
        ),
        ("POST", f"/console/keys/{key_id}/no-such-action", {}, "Not found."),
    ]
    for method, path, fields, expected in cases:
        reply = console.request(method, path, {**fields, "csrf_token": token})
        assert 400 <= reply.status < 500, (path, reply.status)
        assert expected in reply.data.decode().replace("&#39;", "'"), (path, reply.data[:300])
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_sign_ins_are_audited_as_console_login_without_secrets(server: TrentServer) -> None:
    access_key_id, secret = server.credentials()
    client = ConsoleClient(server.endpoint)
    wrong = "W" * 40
    assert client.sign_in(access_key_id, wrong).status == 400
    assert client.sign_in(secret, secret).status == 400  # the secret typed in both fields
    assert client.sign_in(access_key_id, secret).status == 303
    trail = b"".join(path.read_bytes() for path in (server.data_dir / "audit").iterdir())
    assert secret.encode() not in trail
    assert wrong.encode() not in trail
    logins = [r for r in server.audit_records() if r.get("eventName") == "ConsoleLogin"]
    last = logins[-3:]
    assert [r["responseElements"] for r in last] == [
        {"ConsoleLogin": "Failure"},
        {"ConsoleLogin": "Failure"},
        {"ConsoleLogin": "Success"},
    ]
    for record in last:
        assert record["eventSource"] == "signin.amazonaws.com"
        assert record["eventType"] == "AwsConsoleSignIn"
        assert record["userAgent"].startswith("trent-console")
    assert last[0]["errorMessage"] == "Failed authentication"
    assert last[0]["userIdentity"]["accessKeyId"] == access_key_id
    assert "accessKeyId" not in last[1]["userIdentity"]
    assert last[2]["userIdentity"]["arn"].endswith(":root")
    assert "errorCode" not in last[2]


def test_forms_posted_from_another_site_are_refused(server: TrentServer) -> None:
    client = ConsoleClient(server.endpoint)
    fields = dict(zip(("access_key_id", "secret_access_key"), server.credentials(), strict=True))
    reply = client.http.request(
        "POST",
        server.endpoint + "/console/signin",
        fields=fields,
        encode_multipart=False,
        headers={"Origin": "https://attacker.example"},
        redirect=False,
    )
    assert reply.status == 403
    assert "set-cookie" not in reply.headers
    same = client.http.request(
        "POST",
        server.endpoint + "/console/signin",
        fields=fields,
        encode_multipart=False,
        headers={"Origin": server.endpoint},
        redirect=False,
    )
    assert same.status == 303
    page = client.http.request(
        "GET", server.endpoint + "/console/signin", headers={}, redirect=False
    )
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
