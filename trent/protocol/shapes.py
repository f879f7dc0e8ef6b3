"""Per-operation input parsers compiled from the KMS service model botocore ships.

Each operation's input shape is compiled once into a tree of closures that convert a decoded
JSON body (base64 blobs to ``bytes``, timestamps to epoch seconds) and collect constraint
violations, reported as one ``ValidationException`` worded exactly like AWS's. JSON type
mismatches raise ``SerializationException``. Every refusal is an entry of
``trent.errors.catalogue``. No message ever echoes a blob or sensitive value.
"""

from __future__ import annotations

import re
import sys
from binascii import a2b_base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from botocore.loaders import Loader

from trent.errors import KMSError, catalogue

# (value, parent path, member name, errors) -> converted value
Parser = Callable[[Any, str, str, list[str]], Any]

_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number",
               str: "string", list: "array", dict: "object"}  # fmt: skip


def _path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _mismatch(parent: str, name: str, expected: str, value: object) -> KMSError:
    got = _JSON_TYPES.get(type(value), type(value).__name__)
    return catalogue.TYPE_MISMATCH(path=_path(parent, name), expected=expected, got=got)


def _show(value: object) -> str:
    """Render a value the way AWS's (Java) validation messages do, unquoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)}={_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _violation(value: object, redact: bool, parent: str, name: str, constraint: str) -> str:
    shown = "Value" if redact else f"Value '{_show(value)}'"
    return catalogue.VIOLATION.format(value=shown, path=_path(parent, name), constraint=constraint)


def _bounds(shape: dict[str, Any]) -> tuple[int, int]:
    return int(shape.get("min", 0)), int(shape.get("max", sys.maxsize))


def _check_bounds(
    n: int, lo: int, hi: int, what: str, value: object, redact: bool, parent: str, name: str
) -> list[str]:
    if n < lo:
        return [
            _violation(value, redact, parent, name, f"have {what} greater than or equal to {lo}")
        ]
    if n > hi:
        return [_violation(value, redact, parent, name, f"have {what} less than or equal to {hi}")]
    return []


class _Compiler:
    """Turns model shapes into parsers, memoised by shape name."""

    def __init__(self, shapes: dict[str, Any]) -> None:
        self.shapes = shapes
        self.parsers: dict[str, Parser] = {}
        self.redacted: dict[str, bool] = {}

    def is_redacted(self, name: str) -> bool:
        """Blobs, sensitive shapes and containers holding either never show their value."""
        if name not in self.redacted:
            self.redacted[name] = True  # provisional, guards against recursive shapes
            shape = self.shapes[name]
            inner = [m["shape"] for m in shape.get("members", {}).values()]
            inner += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
            self.redacted[name] = (
                shape["type"] == "blob"
                or bool(shape.get("sensitive"))
                or any(self.is_redacted(s) for s in inner)
            )
        return self.redacted[name]

    def parser(self, name: str) -> Parser:
        if name not in self.parsers:
            shape, redact = self.shapes[name], self.is_redacted(name)
            build = self._builders().get(shape["type"])
            if build is None:
                raise TypeError(f"unsupported shape type {shape['type']!r} ({name})")
            self.parsers[name] = build(shape, redact)
        return self.parsers[name]

    def _builders(self) -> dict[str, Callable[[dict[str, Any], bool], Parser]]:
        """The parser builder of each shape type the KMS model uses."""
        return {
            "structure": self._structure,
            "list": self._list,
            "map": self._map,
            "string": self._string,
            "blob": self._blob,
            "integer": self._integer,
            "long": self._integer,
            "boolean": self._boolean,
            "timestamp": self._timestamp,
        }

    def _structure(self, shape: dict[str, Any], redact: bool) -> Parser:
        required = set(shape.get("required", ()))
        members = tuple(
            (key, key[:1].lower() + key[1:], self.parser(m["shape"]), key in required)
            for key, m in shape["members"].items()
        )

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> dict[str, Any]:
            if type(v) is not dict:
                raise _mismatch(parent, name, "an object", v)
            here = _path(parent, name)
            out: dict[str, Any] = {}
            for key, camel, member, req in members:
                x = v.get(key)
                if x is None:
                    if req:
                        errors.append(
                            catalogue.VIOLATION.format(
                                value="Value null",
                                path=_path(here, camel),
                                constraint=catalogue.NOT_NULL,
                            )
                        )
                    continue
                out[key] = member(x, here, camel, errors)
            return out

        return parse

    def _list(self, shape: dict[str, Any], redact: bool) -> Parser:
        element, (lo, hi) = self.parser(shape["member"]["shape"]), _bounds(shape)

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> list[Any]:
            if type(v) is not list:
                raise _mismatch(parent, name, "an array", v)
            here = _path(parent, name)
            out = [element(x, here, f"{i}.member", errors) for i, x in enumerate(v, 1)]
            if not lo <= len(v) <= hi:
                errors += _check_bounds(len(v), lo, hi, "length", v, redact, parent, name)
            return out

        return parse

    def _map(self, shape: dict[str, Any], redact: bool) -> Parser:
        key_parser, (lo, hi) = self.parser(shape["key"]["shape"]), _bounds(shape)
        value_parser = self.parser(shape["value"]["shape"])

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> dict[str, Any]:
            if type(v) is not dict:
                raise _mismatch(parent, name, "an object", v)
            here = _path(parent, name)
            out = {key_parser(k, here, k, errors): value_parser(x, here, k, errors)
                   for k, x in v.items()}  # fmt: skip
            if not lo <= len(v) <= hi:
                errors += _check_bounds(len(v), lo, hi, "length", v, redact, parent, name)
            return out

        return parse

    def _string(self, shape: dict[str, Any], redact: bool) -> Parser:
        lo, hi = _bounds(shape)
        enum = tuple(shape.get("enum", ()))
        allowed = frozenset(enum) if enum else None
        pattern = shape.get("pattern")
        match: Callable[[str], Any] | None = None
        if pattern is not None:
            match = re.compile(pattern, re.ASCII).fullmatch
        also = shape.get(ALSO)  # Trent's widening of a pattern (``_WIDENED``)
        if pattern is not None and also is not None:
            model, extra = re.compile(pattern, re.ASCII), re.compile(also, re.ASCII)
            match = lambda v: model.fullmatch(v) or extra.fullmatch(v)  # noqa: E731

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> str:
            if type(v) is not str:
                raise _mismatch(parent, name, "a string", v)
            if (
                not lo <= len(v) <= hi
                or (allowed is not None and v not in allowed)
                or (match is not None and match(v) is None)
            ):
                errors += _check_bounds(len(v), lo, hi, "length", v, redact, parent, name)
                if match is not None and match(v) is None:
                    constraint = f"satisfy regular expression pattern: {pattern}"
                    errors.append(_violation(v, redact, parent, name, constraint))
                if allowed is not None and v not in allowed:
                    constraint = f"satisfy enum value set: [{', '.join(enum)}]"
                    errors.append(_violation(v, redact, parent, name, constraint))
            return v

        return parse

    def _blob(self, shape: dict[str, Any], redact: bool) -> Parser:
        lo, hi = _bounds(shape)

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> bytes:
            if type(v) is not str:
                raise _mismatch(parent, name, "a base64-encoded string", v)
            try:
                data = a2b_base64(v, strict_mode=True)
            except ValueError:
                raise catalogue.NOT_BASE64(path=_path(parent, name)) from None
            if not lo <= len(data) <= hi:
                errors += _check_bounds(len(data), lo, hi, "length", data, True, parent, name)
            return data

        return parse

    def _integer(self, shape: dict[str, Any], redact: bool) -> Parser:
        lo, hi = int(shape.get("min", -sys.maxsize)), int(shape.get("max", sys.maxsize))

        def parse(v: Any, parent: str, name: str, errors: list[str]) -> int:
            if type(v) is not int:  # excludes bool, which is an int subclass
                raise _mismatch(parent, name, "an integer", v)
            if not lo <= v <= hi:
                errors += _check_bounds(v, lo, hi, "value", v, redact, parent, name)
            return v

        return parse

    def _boolean(self, shape: dict[str, Any], redact: bool) -> Parser:
        def parse(v: Any, parent: str, name: str, errors: list[str]) -> bool:
            if type(v) is not bool:
                raise _mismatch(parent, name, "a boolean", v)
            return v

        return parse

    def _timestamp(self, shape: dict[str, Any], redact: bool) -> Parser:
        def parse(v: Any, parent: str, name: str, errors: list[str]) -> float:
            if type(v) is int or type(v) is float:
                return float(v)
            if type(v) is not str:
                raise _mismatch(parent, name, "a timestamp", v)
            try:
                when = datetime.fromisoformat(v)
            except ValueError:
                raise catalogue.NOT_TIMESTAMP(path=_path(parent, name)) from None
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()

        return parse


# Patterns Trent accepts more of than the model: an external key store proxy endpoint may be
# ``http://`` (the operation then requires a loopback host) and may name a port
# (``trent.operations.keystores``). A refusal still quotes the model's own pattern.
ALSO = "x-trent-also"
_WIDENED = {"XksProxyUriEndpointType": r"^https?://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$"}


class ServiceModel:
    """The KMS API contract: operation names, declared errors, enums and input parsers."""

    _instance: ClassVar[ServiceModel | None] = None

    def __init__(self, model: dict[str, Any]) -> None:
        shapes = dict(model["shapes"])
        for name, extra in _WIDENED.items():
            if name in shapes:
                shapes[name] = {**shapes[name], ALSO: extra}
        compiler = _Compiler(shapes)
        ops = model["operations"]
        self._parsers = {op: compiler.parser(d["input"]["shape"]) for op, d in ops.items()}
        self._errors = {
            op: frozenset(e["shape"] for e in d.get("errors", ())) for op, d in ops.items()
        }
        self._enums = {n: tuple(s.get("enum", ())) for n, s in model["shapes"].items()}
        self._names = frozenset(ops)

    @classmethod
    def load(cls) -> ServiceModel:
        """The botocore KMS model, loaded and compiled once per process."""
        if cls._instance is None:
            cls._instance = cls(Loader().load_service_model("kms", "service-2"))
        return cls._instance

    @property
    def operation_names(self) -> frozenset[str]:
        return self._names

    def parse_input(self, operation: str, body: object) -> dict[str, Any]:
        """Convert and validate one request body; raises Serialization/ValidationException."""
        parser = self._parsers.get(operation)
        if parser is None:
            raise catalogue.UNKNOWN_OPERATION()  # as AWS: {"__type"} alone
        if type(body) is not dict:
            raise catalogue.BODY_NOT_OBJECT()
        errors: list[str] = []
        out: dict[str, Any] = parser(body, "", "", errors)
        if errors:
            n = len(errors)
            raise catalogue.VALIDATION(
                count=n, errors="errors" if n > 1 else "error", violations="; ".join(errors)
            )
        return out

    def error_names(self, operation: str) -> frozenset[str]:
        return self._errors[operation]

    def enum_values(self, shape_name: str) -> tuple[str, ...]:
        return self._enums[shape_name]
