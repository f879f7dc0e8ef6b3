"""CloudTrail-shaped audit records, as AWS KMS writes them (event version 1.11).

Shape source: the sample Decrypt event in AWS's post "How to use on-demand rotation for AWS KMS
imported keys" ("CloudTrail logging") and the developer guide's "Logging AWS KMS API calls with
AWS CloudTrail" examples (CreateKey, Encrypt, GenerateDataKey, ReEncrypt, TagResource,
ImportKeyMaterial, ScheduleKeyDeletion, RotateKey, DeleteKey, DeleteExpiredKeyMaterial):

- ``requestParameters``: the request's members in CloudTrail's camelCase (Java bean naming:
  ``KeyId`` → ``keyId``, ``AWSAccountId`` stays), structures inside lists likewise
  (``tags[].tagKey``), map keys untouched (``encryptionContext``), timestamps as
  ``"Aug 10, 2022, 10:38:27 PM"`` (UTC). Blobs (plaintext, ciphertext, messages, signatures,
  public keys, wrapped material, import tokens) are never included.
- ``responseElements``: ``null`` for read-only events (every cryptographic operation,
  ``Describe*``/``Get*``/``List*``); the response members otherwise, converted as above.
- ``additionalEventData.keyMaterialId`` for operations with symmetric encryption keys
  (ReEncrypt: ``sourceKeyMaterialId`` and ``destinationKeyMaterialId``).
- ``resources[]``: ``{accountId, type: "AWS::KMS::Key", ARN}`` for every key the call touched.
- ``trentAuthorization`` (Trent's own, last, absent when no authorization ran): the reason of
  each authorization, e.g. ``allowed by resource-based policy statement 'Enable IAM User
  Permissions'`` or ``no session policy allows`` (a list when there were several).

Conversion is compiled once per operation from the botocore KMS model (a template of member
names and converters), so building a record costs one pass over the members actually present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.loaders import Loader

from trent.authz.verdict import Verdict
from trent.operations.context import Call

EVENT_VERSION = "1.11"
EVENT_SOURCE = "kms.amazonaws.com"
AWS_INTERNAL = "AWS Internal"  # what CloudTrail shows as the caller of a service event
# Trent's own member, after CloudTrail's: why the request was allowed or refused (issue 10).
AUTHORIZATION_FIELD = "trentAuthorization"
READ_ONLY_PREFIXES = ("Describe", "Get", "List")
READ_ONLY_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
    }
)
# Operations whose symmetric key material CloudTrail names in additionalEventData.
SYMMETRIC_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)

# Request members CloudTrail records with their effective value when the caller left them out
# (its Decrypt sample shows encryptionAlgorithm), taken from the response that states them.
DEFAULTED = {
    "Encrypt": (("encryptionAlgorithm", "EncryptionAlgorithm"),),
    "Decrypt": (("encryptionAlgorithm", "EncryptionAlgorithm"),),
    "ReEncrypt": (
        ("sourceEncryptionAlgorithm", "SourceEncryptionAlgorithm"),
        ("destinationEncryptionAlgorithm", "DestinationEncryptionAlgorithm"),
    ),
}

Convert = Callable[[Any], Any]


def _drop(value: Any) -> Any:  # a marker: the member never enters a record (a blob)
    raise AssertionError("dropped members are never converted")


def camel(name: str) -> str:
    """CloudTrail's member names: Java's ``Introspector.decapitalize`` (``KeyId`` → ``keyId``,
    ``AWSAccountId`` unchanged)."""
    if len(name) > 1 and name[0].isupper() and name[1].isupper():
        return name
    return name[:1].lower() + name[1:]


def cloudtrail_time(epoch: float) -> str:
    """A timestamp inside request/response elements: ``"Aug 10, 2022, 10:38:27 PM"`` (UTC)."""
    try:
        t = time.gmtime(int(epoch))
    except (OverflowError, OSError, ValueError):  # out of the platform's range: as given
        return str(epoch)
    hour = t.tm_hour % 12 or 12
    return time.strftime(f"%b {t.tm_mday}, %Y, {hour}:%M:%S %p", t)


def _scrub(value: Any) -> Any:
    """Members the model does not declare: camelCase keys, blobs removed."""
    if isinstance(value, dict):
        return {
            camel(k): _scrub(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value if not isinstance(v, bytes | bytearray)]
    return value


class _Compiler:
    """Model shapes → converters (``None``: the value goes in as it is), memoised by name."""

    def __init__(self, shapes: dict[str, Any]) -> None:
        self.shapes = shapes
        self.done: dict[str, Convert | None] = {}

    def shape(self, name: str) -> Convert | None:
        if name not in self.done:
            self.done[name] = None  # recursion guard; KMS has no recursive shapes
            self.done[name] = self._compile(self.shapes[name])
        return self.done[name]

    def _compile(self, shape: dict[str, Any]) -> Convert | None:
        kind = shape["type"]
        if kind == "blob" or shape.get("sensitive"):
            return _drop
        if kind == "timestamp":
            return cloudtrail_time
        if kind == "list":
            inner = self.shape(shape["member"]["shape"])
            if inner is None:
                return None
            if inner is _drop:
                return _drop
            convert_item = inner
            return lambda v: [convert_item(i) for i in v]
        if kind == "structure":
            return self.structure(shape)
        return None  # strings, numbers, booleans, string maps: as they are

    def structure(self, shape: dict[str, Any]) -> Convert:
        members: dict[str, tuple[str, Convert | None]] = {}
        for name, ref in shape.get("members", {}).items():
            members[name] = (camel(name), self.shape(ref["shape"]))

        def convert(value: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, item in value.items():
                member = members.get(name)
                if member is None:  # not in the model (e.g. Encrypt's KeyMaterialId)
                    if not isinstance(item, bytes | bytearray):
                        out[camel(name)] = _scrub(item)
                    continue
                key, converter = member
                if converter is None:
                    out[key] = item
                elif converter is not _drop:
                    out[key] = converter(item)
            return out

        return convert


@dataclass(frozen=True, slots=True)
class Template:
    """What is fixed per operation: read-only or not, and how its members are converted."""

    read_only: bool
    request: Convert
    response: Convert
    symmetric: bool
    defaulted: tuple[tuple[str, str], ...]


_templates: dict[str, Template] = {}
_compiler: list[_Compiler] = []


def template(operation: str) -> Template:
    """The operation's template, compiled on first use (unknown operations: generic)."""
    found = _templates.get(operation)
    if found is not None:
        return found
    if not _compiler:
        _compiler.append(_Compiler(Loader().load_service_model("kms", "service-2")["shapes"]))
    compiler = _compiler[0]
    read_only = operation in READ_ONLY_OPERATIONS or operation.startswith(READ_ONLY_PREFIXES)
    spec = compiler.shapes.get(f"{operation}Request"), compiler.shapes.get(f"{operation}Response")
    request = compiler.structure(spec[0]) if spec[0] else _scrub
    response = compiler.structure(spec[1]) if spec[1] else _scrub
    found = Template(
        read_only,
        request,
        response,
        operation in SYMMETRIC_OPERATIONS,
        DEFAULTED.get(operation, ()),
    )
    _templates[operation] = found
    return found


_last_second: list[tuple[int, str]] = [(-1, "")]


def _iso(epoch: float) -> str:
    second = int(epoch)
    cached = _last_second[0]
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
        _last_second[0] = cached
    return cached[1]


def _additional(operation: str, shape: Template, response: dict[str, Any] | None) -> Any:
    if response is None:
        return None
    if shape.symmetric:
        material = response.get("KeyMaterialId")
        return {"keyMaterialId": material} if material else None
    if operation == "ReEncrypt":
        found = {
            camel(name): response[name]
            for name in ("SourceKeyMaterialId", "DestinationKeyMaterialId")
            if response.get(name)
        }
        return found or None
    return None


def user_identity(call: Call, account_id: str) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` of the caller (CloudTrail User Guide, "CloudTrail
    userIdentity element"): ``type`` ``Root``, ``IAMUser`` or ``AssumedRole``, ``principalId``,
    ``arn``, ``accountId``, ``accessKeyId``; ``userName`` for users; ``sessionContext`` with
    ``sessionIssuer`` (the role) and ``attributes.creationDate`` for sessions. A refused
    caller is ``Unknown`` with the access key id it claimed."""
    principal = call.principal
    if principal is None:
        identity: dict[str, Any] = {"type": "Unknown", "accountId": account_id}
        if call.claimed_access_key_id:
            identity["accessKeyId"] = call.claimed_access_key_id
        return identity
    identity = {
        "type": principal.type.value,
        "principalId": principal.principal_id or principal.access_key_id,
        "arn": principal.arn,
        "accountId": principal.account_id,
        "accessKeyId": principal.access_key_id,
    }
    if principal.name is not None:
        identity["userName"] = principal.name
    session = principal.session
    if session is not None:
        identity["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": session.role_id,
                "arn": session.role_arn,
                "accountId": principal.account_id,
                "userName": session.role_name,
            },
            "attributes": {
                "creationDate": _iso(session.created_at),
                "mfaAuthenticated": "false",
            },
        }
    return identity


_SECRET_MEMBERS = frozenset({"SecretAccessKey", "SessionToken"})
_TIME_MEMBERS = frozenset({"CreateDate", "UpdateDate", "Expiration"})


def _identity_elements(value: Any) -> Any:
    """Request or response members of an IAM/STS call as CloudTrail records them: camelCase
    names, timestamps as CloudTrail writes them; secret access keys and session tokens never."""
    if isinstance(value, dict):
        return {
            camel(k): cloudtrail_time(v) if k in _TIME_MEMBERS else _identity_elements(v)
            for k, v in value.items()
            if k not in _SECRET_MEMBERS
        }
    if isinstance(value, list):
        return [_identity_elements(v) for v in value]
    return value


_CACHE_LIMIT = 1024  # entries per fragment cache below (they are cleared when full)
# every member record_line writes itself: an ``extra`` naming one goes through build_record
_RECORD_MEMBERS = frozenset(
    {
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
        "responseElements", "additionalEventData", "requestID", "eventID", "readOnly",
        "resources", "eventType", "managementEvent", "recipientAccountId", "eventCategory",
        AUTHORIZATION_FIELD,
    }
)  # fmt: skip
_heads: dict[tuple[object, str], bytes] = {}
_sources: dict[tuple[str, str, str, str], bytes] = {}
_resources: dict[tuple[str, str], bytes] = {}
_tails: dict[str, bytes] = {}
_reason_texts: dict[object, bytes] = {}


def _cached(cache: dict[Any, bytes], key: Any, make: Callable[[], bytes]) -> bytes:
    found = cache.get(key)
    if found is None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        found = cache[key] = make()
    return found


def _members(value: dict[str, Any]) -> bytes:
    """``value``'s members as JSON without the braces: ``"a":1,"b":2``."""
    return orjson.dumps(value)[1:-1]


def record_line(
    call: Call,
    *,
    region: str,
    account_id: str,
    source_ip: str,
    user_agent: str,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """``build_record``'s event as one JSON line (``extra``'s members last, then a newline),
    byte for byte what ``orjson.dumps`` of that dict gives: the members that repeat from
    request to request (the caller's ``userIdentity``, where the request came from, the key's
    ``resources`` entry, the fixed tail) are serialised once and reused."""
    principal = call.principal
    if (
        principal is None
        or call.grant_id is not None
        or len(call.resources) > 1
        or (extra and not _RECORD_MEMBERS.isdisjoint(extra))
    ):
        record = build_record(
            call,
            region=region,
            account_id=account_id,
            source_ip=source_ip,
            user_agent=user_agent,
        )
        if extra:
            record.update(extra)
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    operation = call.operation
    shape = template(operation)
    response = call.response if call.error_code is None else None
    parts = [
        _cached(
            _heads,
            (principal, account_id),
            lambda: (
                orjson.dumps(
                    {"eventVersion": EVENT_VERSION, "userIdentity": user_identity(call, account_id)}
                )[:-1]
                + b',"eventTime":'
            ),
        ),
        orjson.dumps(_iso(call.event_time)),
        _cached(
            _sources,
            (operation, region, source_ip, user_agent),
            lambda: (
                b","
                + _members(
                    {
                        "eventSource": EVENT_SOURCE,
                        "eventName": operation,
                        "awsRegion": region,
                        "sourceIPAddress": source_ip,
                        "userAgent": user_agent,
                    }
                )
            ),
        ),
    ]
    middle = _outcome(call, shape, response)
    middle["requestID"] = call.request_id
    middle["eventID"] = call.event_id
    middle["readOnly"] = shape.read_only
    parts.append(b"," + _members(middle) + b',"resources":')
    if call.resources:
        arn = call.resources[0]
        parts.append(
            _cached(
                _resources,
                (account_id, arn),
                lambda: orjson.dumps(
                    [{"accountId": account_id, "type": "AWS::KMS::Key", "ARN": arn}]
                ),
            )
        )
    else:
        parts.append(b"[]")
    parts.append(
        _cached(
            _tails,
            account_id,
            lambda: (
                b","
                + _members(
                    {
                        "eventType": "AwsApiCall",
                        "managementEvent": True,
                        "recipientAccountId": account_id,
                        "eventCategory": "Management",
                    }
                )
            ),
        )
    )
    if call.authorization:
        verdict = call.authorization[0]
        if len(call.authorization) == 1 and type(verdict) is Verdict:
            parts.append(
                _cached(
                    _reason_texts,
                    verdict,
                    lambda: b"," + _members({AUTHORIZATION_FIELD: str(verdict)}),
                )
            )
        else:
            parts.append(b"," + _members({AUTHORIZATION_FIELD: _reasons(call)}))
    if extra:
        parts.append(b"," + _members(extra))
    parts.append(b"}\n")
    return b"".join(parts)


def build_identity_record(
    call: Call,
    *,
    event_source: str,
    region: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any]:
    """The CloudTrail ``AwsApiCall`` event of one IAM or STS request (``eventSource``
    ``iam.amazonaws.com`` or ``sts.amazonaws.com``); policy documents are recorded as sent."""
    account_id = call.principal.account_id if call.principal else ""
    read_only = call.operation.startswith(READ_ONLY_PREFIXES)
    response = call.response if call.error_code is None else None
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(call, account_id),
        "eventTime": _iso(call.event_time),
        "eventSource": event_source,
        "eventName": call.operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if call.error_code:
        record["errorCode"] = call.error_code
        record["errorMessage"] = call.error_message
    record["requestParameters"] = (
        _identity_elements(call.request) or None if call.request is not None else None
    )
    record["responseElements"] = (
        _identity_elements(response) or None if response and not read_only else None
    )
    record["requestID"] = call.request_id
    record["eventID"] = call.event_id
    record["readOnly"] = read_only
    record["resources"] = [{"accountId": account_id, "ARN": arn} for arn in call.resources]
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = True
    record["recipientAccountId"] = account_id
    record["eventCategory"] = "Management"
    if call.authorization:
        record[AUTHORIZATION_FIELD] = _reasons(call)
    return record


def build_sign_in_record(
    call: Call, *, region: str, source_ip: str, user_agent: str
) -> dict[str, Any]:
    """The CloudTrail ``AwsConsoleSignIn`` event of a web console sign-in (CloudTrail User
    Guide, "AWS Management Console sign-in events"): ``eventSource`` ``signin.amazonaws.com``,
    ``eventName`` ``ConsoleLogin``, ``responseElements`` ``{"ConsoleLogin": "Success"}`` or
    ``"Failure"`` with ``errorMessage`` ``"Failed authentication"``. No request parameters:
    nothing typed into the form is recorded but a known access key id."""
    record = build_identity_record(
        call,
        event_source="signin.amazonaws.com",
        region=region,
        source_ip=source_ip,
        user_agent=user_agent,
    )
    record["requestParameters"] = None
    record["responseElements"] = {"ConsoleLogin": "Failure" if call.error_code else "Success"}
    record["readOnly"] = False
    record["eventType"] = "AwsConsoleSignIn"
    record["resources"] = []
    return record


def _reasons(call: Call) -> str | list[str]:
    """Why the call was allowed or refused (Trent's own last member, ``trentAuthorization``):
    one reason per authorization, e.g. ``allowed by resource-based policy statement 'Enable IAM
    User Permissions'`` (a list when the call authorized twice, as ReEncrypt does)."""
    reasons = [str(r) for r in call.authorization]
    return reasons[0] if len(reasons) == 1 else reasons


def _outcome(call: Call, shape: Template, response: dict[str, Any] | None) -> dict[str, Any]:
    """The record's members between ``userAgent`` and ``requestID``, in CloudTrail's order:
    ``errorCode``/``errorMessage`` (a failed call), ``requestParameters``,
    ``responseElements``, ``additionalEventData`` (when there is any)."""
    members: dict[str, Any] = {}
    if call.error_code:
        members["errorCode"] = call.error_code
        members["errorMessage"] = call.error_message
    parameters = shape.request(call.request) if call.request is not None else None
    if parameters is not None and response:
        for name, source in shape.defaulted:
            if name not in parameters and source in response:
                parameters[name] = response[source]
    members["requestParameters"] = parameters
    # As in CloudTrail, only calls that change something carry their response elements.
    members["responseElements"] = (
        shape.response(response) or None if response and not shape.read_only else None
    )
    additional = _additional(call.operation, shape, response)
    if call.grant_id is not None:  # allowed by a grant (issue 10)
        additional = {**(additional or {}), "grantId": call.grant_id}
    if additional is not None:
        members["additionalEventData"] = additional
    return members


def build_record(
    call: Call,
    *,
    region: str,
    account_id: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any]:
    """The CloudTrail ``AwsApiCall`` event of one request (allowed, refused or failed)."""
    identity = user_identity(call, account_id)
    operation = call.operation
    shape = template(operation)
    response = call.response if call.error_code is None else None
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": _iso(call.event_time),
        "eventSource": EVENT_SOURCE,
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    record.update(_outcome(call, shape, response))
    record["requestID"] = call.request_id
    record["eventID"] = call.event_id
    record["readOnly"] = shape.read_only
    record["resources"] = [
        {"accountId": account_id, "type": "AWS::KMS::Key", "ARN": arn}
        for arn in dict.fromkeys(call.resources)
    ]
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = True
    record["recipientAccountId"] = account_id
    record["eventCategory"] = "Management"
    if call.authorization:
        record[AUTHORIZATION_FIELD] = _reasons(call)
    return record


# Trent's own member of every record a node writes when several nodes share one PostgreSQL
# database: the node's name (``trent.bootstrap.node_name``). Absent on SQLite.
NODE_FIELD = "trentNode"


def build_service_record(
    name: str,
    key_arn: str,
    event_time: float,
    details: dict[str, str],
    *,
    region: str,
    account_id: str,
    event_id: str,
) -> dict[str, Any]:
    """A record of something Trent did by itself (``RotateKey``, ``DeleteKey``,
    ``DeleteExpiredKeyMaterial``): an ``AwsServiceEvent`` invoked by "AWS Internal", with no
    request or response and ``serviceEventDetails`` (``keyId`` and the event's details)."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"accountId": account_id, "invokedBy": AWS_INTERNAL},
        "eventTime": _iso(event_time),
        "eventSource": EVENT_SOURCE,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": AWS_INTERNAL,
        "userAgent": AWS_INTERNAL,
        "requestParameters": None,
        "responseElements": None,
        "eventID": event_id,
        "readOnly": False,
        "resources": [{"accountId": account_id, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "serviceEventDetails": {"keyId": key_arn.rsplit("/", 1)[-1], **details},
        "eventCategory": "Management",
    }
    return record
