"""CloudTrail-shaped audit records.

Only what is safe to keep goes in: request and response members with every blob removed
(plaintext, ciphertext, data keys, public keys alike), names in CloudTrail's lowerCamelCase.
Secret access keys and signatures never reach this module.
"""

from __future__ import annotations

import time
from typing import Any

from trent.operations.context import Call

EVENT_VERSION = "1.08"
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


_CAMEL: dict[str, str] = {}


def _camel(name: str) -> str:
    camel = _CAMEL.get(name)
    if camel is None:
        camel = _CAMEL[name] = name[:1].lower() + name[1:]
    return camel


def scrub(value: Any) -> Any:
    """A copy of ``value`` with every ``bytes`` removed and keys in lowerCamelCase."""
    if isinstance(value, dict):
        return {
            _camel(k): scrub(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)
        }
    if isinstance(value, list):
        return [scrub(v) for v in value if not isinstance(v, bytes | bytearray)]
    return value


_last_second: list[tuple[int, str]] = [(-1, "")]


def _iso(epoch: float) -> str:
    second = int(epoch)
    cached = _last_second[0]
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
        _last_second[0] = cached
    return cached[1]


def build_record(
    call: Call,
    *,
    region: str,
    account_id: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any]:
    principal = call.principal
    identity: dict[str, Any] = {"type": "Unknown", "accountId": account_id}
    if principal is not None:
        identity = {
            "type": "IAMUser",
            "principalId": principal.access_key_id,
            "arn": principal.arn,
            "accountId": principal.account_id,
            "accessKeyId": principal.access_key_id,
            "userName": principal.arn.rsplit("/", 1)[-1],
        }
    elif call.claimed_access_key_id:
        identity["accessKeyId"] = call.claimed_access_key_id
    operation = call.operation
    read_only = operation in READ_ONLY_OPERATIONS or operation.startswith(READ_ONLY_PREFIXES)
    # As in CloudTrail, only calls that change something carry their response elements.
    response = scrub(call.response) if call.response and not read_only else None
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": _iso(call.event_time),
        "eventSource": "kms.amazonaws.com",
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": scrub(call.request) if call.request is not None else None,
        "responseElements": response,
        "requestID": call.request_id,
        "eventID": call.event_id,
        "readOnly": read_only,
        "resources": [
            {"accountId": account_id, "type": "AWS::KMS::Key", "ARN": arn}
            for arn in dict.fromkeys(call.resources)
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if call.error_code:
        record["errorCode"] = call.error_code
        record["errorMessage"] = call.error_message
    return record


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
    """A record of something Trent did by itself (scheduled rotation, deletion, expiry)."""
    return {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"accountId": account_id, "invokedBy": "kms.amazonaws.com"},
        "eventTime": _iso(event_time),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "kms.amazonaws.com",
        "userAgent": "kms.amazonaws.com",
        "requestParameters": None,
        "responseElements": None,
        "additionalEventData": details,
        "requestID": event_id,
        "eventID": event_id,
        "readOnly": False,
        "resources": [{"accountId": account_id, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
