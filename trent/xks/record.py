"""The audit record of one XKS proxy request, in the shape of Trent's CloudTrail records.

The spec ("Logging") asks a proxy to log every request's ``requestMetadata`` (``kmsRequestId``
above all, which matches the record to AWS CloudTrail's record of the KMS call), whether it
succeeded, the error otherwise, and never a plaintext. The record:

- ``eventSource`` ``"kms-xks-proxy"`` (the SigV4 service name), ``eventType``
  ``"XksProxyApiCall"``, ``eventName`` the API (``Encrypt``, ``Decrypt``, ``GetKeyMetadata``,
  ``GetHealthStatus``);
- ``userIdentity`` ``{"type": "XksProxyCredential", "accessKeyId", "accountId"}`` (the access
  key id as claimed when the signature did not verify, if it had the form of one);
- ``requestParameters``: ``xksProxyUriPath``, ``externalKeyId``, ``requestMetadata`` (its string
  fields as sent), ``encryptionAlgorithm`` and ``ciphertextDataIntegrityValueAlgorithm`` when
  given; ``additionalEventData.keyMaterialId`` when a key material was used;
- ``errorCode``/``errorMessage`` (the spec's ``errorName`` and Trent's message) on failure;
- ``resources``: the Trent key, as for KMS calls, so ``trent audit query --key`` finds both.
"""

from __future__ import annotations

import time
from typing import Any

from trent.xks.proxy import XksCall

EVENT_SOURCE = "kms-xks-proxy"
EVENT_TYPE = "XksProxyApiCall"


def build_xks_record(
    call: XksCall,
    *,
    uri_path: str | None,
    access_key_id: str | None,
    verified: bool,
    error: tuple[str, str] | None,
    request_id: str,
    event_id: str,
    event_time: float,
    region: str,
    account_id: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "XksProxyCredential" if verified else "Unknown"}
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    identity["accountId"] = account_id
    parameters: dict[str, Any] = {}
    if uri_path is not None:
        parameters["xksProxyUriPath"] = uri_path
    if call.external_key_id is not None:
        parameters["externalKeyId"] = call.external_key_id
    if call.request_metadata:
        parameters["requestMetadata"] = call.request_metadata
    parameters.update(call.parameters)
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event_time)),
        "eventSource": EVENT_SOURCE,
        "eventName": str(call.api),
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if error is not None:
        record["errorCode"], record["errorMessage"] = error
    record["requestParameters"] = parameters or None
    record["responseElements"] = None
    if call.key_material_id is not None and error is None:
        record["additionalEventData"] = {"keyMaterialId": call.key_material_id}
    record["requestID"] = request_id
    record["eventID"] = event_id
    record["readOnly"] = True
    record["resources"] = (
        [{"accountId": account_id, "type": "AWS::KMS::Key", "ARN": call.key_arn}]
        if call.key_arn
        else []
    )
    record["eventType"] = EVENT_TYPE
    record["managementEvent"] = True
    record["recipientAccountId"] = account_id
    record["eventCategory"] = "Management"
    return record
