"""AWS's query protocol for IAM and STS: form-encoded requests in, XML out, driven by the
``iam`` and ``sts`` service models botocore ships.

A request is ``POST /`` with ``Content-Type: application/x-www-form-urlencoded``, ``Action`` and
``Version`` (``2010-05-08`` for IAM, ``2011-06-15`` for STS). ``QueryService.parse_input``
turns the flattened members (``Tags.member.1.Key``, ``PolicyArns.member.2.arn``) into nested
values and checks them against the model's constraints, reporting violations in one
``ValidationError`` worded as IAM's ("1 validation error detected: Value ... at 'userName'
failed to satisfy constraint: ..."). ``serialize`` writes ``<ActionResponse><ActionResult>``
from the operation's output shape and ``ResponseMetadata/RequestId``; ``error_body`` writes
``ErrorResponse/Error/{Type,Code,Message}`` and ``RequestId`` (AWS General Reference, "Query
API"; botocore's ``query`` serializer and parser are the wire contract).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from botocore.loaders import Loader

from trent.errors import KMSError
from trent.identity.errors import InvalidInput, ValidationError

CONTENT_TYPE = b"text/xml"
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Service:
    name: str  # signing name: "iam" or "sts"
    version: str
    namespace: str
    event_source: str


IAM = Service("iam", "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/", "iam.amazonaws.com")
STS = Service("sts", "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/", "sts.amazonaws.com")
SERVICES = {s.version: s for s in (IAM, STS)}

# Protocol errors raised with KMS's names, as IAM and STS name them (code, HTTP status).
QUERY_CODES: dict[str, tuple[str, int]] = {
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "AccessDeniedException": ("AccessDenied", 403),
    "ExpiredTokenException": ("ExpiredToken", 403),
    "ValidationException": ("ValidationError", 400),
    "KMSInternalException": ("ServiceFailure", 500),
}


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class QueryService:
    """One service's model: input parsing and output serialisation per operation."""

    def __init__(self, service: Service, model: Mapping[str, Any]) -> None:
        self.service = service
        self.shapes: Mapping[str, Any] = model["shapes"]
        self.operations: Mapping[str, Any] = model["operations"]

    @classmethod
    def load(cls, service: Service) -> QueryService:
        return cls(service, Loader().load_service_model(service.name, "service-2"))

    # --- input --------------------------------------------------------------------------------
    def parse_input(self, operation: str, form: Mapping[str, str]) -> dict[str, Any]:
        spec = self.operations[operation]
        problems: list[str] = []
        if "input" not in spec:
            return {}
        value = self._structure(self.shapes[spec["input"]["shape"]], "", "", form, problems)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems))
        return value if isinstance(value, dict) else {}

    def _value(
        self, shape_name: str, key: str, path: str, form: Mapping[str, str], problems: list[str]
    ) -> Any:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            if not any(k == key or k.startswith(key + ".") for k in form):
                return None
            return self._structure(shape, key, path, form, problems)
        if kind == "list":
            if key in form and form[key] == "":
                return []
            items = []
            index = 1
            member = shape["member"]["shape"]
            while any(
                k == f"{key}.member.{index}" or k.startswith(f"{key}.member.{index}.") for k in form
            ):
                items.append(
                    self._value(member, f"{key}.member.{index}", f"{path}.{index}", form, problems)
                )
                index += 1
            if index == 1:
                return None
            self._bounds(shape, len(items), items, path, problems, "length")
            return items
        if kind == "map":
            result: dict[str, Any] = {}
            index = 1
            while f"{key}.entry.{index}.key" in form:
                result[form[f"{key}.entry.{index}.key"]] = form.get(
                    f"{key}.entry.{index}.value", ""
                )
                index += 1
            return result if index > 1 else None
        raw = form.get(key)
        if raw is None:
            return None
        if kind in ("integer", "long"):
            try:
                number = int(raw)
            except ValueError:
                raise InvalidInput(f"Invalid value for parameter {_lower_first(key)}") from None
            self._bounds(shape, number, number, path, problems, "value")
            return number
        if kind == "boolean":
            return raw.lower() == "true"
        if kind == "string":
            self._bounds(shape, len(raw), raw, path, problems, "length")
            if "enum" in shape and raw not in shape["enum"]:
                problems.append(
                    f"Value '{raw}' at '{path}' failed to satisfy constraint: Member must satisfy "
                    f"enum value set: [{', '.join(shape['enum'])}]"
                )
            pattern = shape.get("pattern")
            compiled = _compiled(pattern) if pattern else None
            if compiled is not None and compiled.fullmatch(raw) is None:
                problems.append(
                    f"Value '{raw}' at '{path}' failed to satisfy constraint: Member must satisfy "
                    f"regular expression pattern: {pattern}"
                )
        return raw

    def _structure(
        self, shape: Any, key: str, path: str, form: Mapping[str, str], problems: list[str]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        required = set(shape.get("required", ()))
        for name, member in shape.get("members", {}).items():
            wire = member.get("locationName", name)
            member_key = f"{key}.{wire}" if key else wire
            member_path = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
            value = self._value(member["shape"], member_key, member_path, form, problems)
            if value is None:
                if name in required:
                    problems.append(
                        f"Value null at '{member_path}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
                continue
            result[name] = value
        return result

    @staticmethod
    def _bounds(shape: Any, n: int, value: Any, path: str, problems: list[str], what: str) -> None:
        shown = value if what == "value" or isinstance(value, str) else "[...]"
        if "min" in shape and n < shape["min"]:
            problems.append(
                f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have "
                f"{what} greater than or equal to {shape['min']}"
            )
        if "max" in shape and n > shape["max"]:
            problems.append(
                f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have "
                f"{what} less than or equal to {shape['max']}"
            )

    # --- output -------------------------------------------------------------------------------
    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
        root = ET.Element(f"{operation}Response", xmlns=self.service.namespace)
        output = self.operations[operation].get("output")
        if output is not None:
            wrapper = ET.SubElement(root, output.get("resultWrapper", f"{operation}Result"))
            self._write_structure(wrapper, self.shapes[output["shape"]], result)
        metadata = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(metadata, "RequestId").text = request_id
        return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False))

    def _write_structure(self, parent: ET.Element, shape: Any, value: Mapping[str, Any]) -> None:
        for name, member in shape.get("members", {}).items():
            if name in value and value[name] is not None:
                element = ET.SubElement(parent, member.get("locationName", name))
                self._write(element, member["shape"], value[name])

    def _write(self, element: ET.Element, shape_name: str, value: Any) -> None:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            self._write_structure(element, shape, value)
        elif kind == "list":
            member = shape["member"]
            for item in value:
                child = ET.SubElement(element, member.get("locationName", "member"))
                self._write(child, member["shape"], item)
        elif kind == "map":
            for k, v in value.items():
                entry = ET.SubElement(element, "entry")
                ET.SubElement(entry, "key").text = str(k)
                ET.SubElement(entry, "value").text = str(v)
        elif kind == "timestamp":
            element.text = iso8601(float(value))
        elif kind == "boolean":
            element.text = "true" if value else "false"
        else:
            element.text = str(value)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """A model pattern as a Python regex; None for Java-only syntax (``\\p{L}`` classes),
    which is not checked (Python's ``re`` has no Unicode property classes)."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def iso8601(epoch: float) -> str:
    """``2024-05-01T12:00:00Z``, as IAM and STS write timestamps."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_form(body: bytes) -> dict[str, str]:
    """The form fields of a query request body (first value of a repeated name); a body that
    is not form-encoded UTF-8 names no fields."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    form: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(name, value)
    return form


def error_code(exc: KMSError) -> tuple[str, int]:
    """The IAM/STS code and HTTP status of an error."""
    return QUERY_CODES.get(exc.type_name, (exc.type_name, exc.status))


def error_body(
    namespace: str, code: str, message: str | None, status: int, request_id: str
) -> bytes:
    """``<ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error>
    <RequestId/></ErrorResponse>`` as IAM and STS send it."""
    root = ET.Element("ErrorResponse", xmlns=namespace)
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Receiver" if status >= 500 else "Sender"
    ET.SubElement(error, "Code").text = code
    if message is not None:
        ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestId").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8"))
