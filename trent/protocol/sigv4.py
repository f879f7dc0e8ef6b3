"""AWS Signature Version 4 verification: who sent a request, and was it signed with their secret.

Owns parsing the ``Authorization`` header, rebuilding the canonical request and string to sign
exactly as AWS does, the clock-skew window and the signing-key cache. Refusals are raised as
the ``KMSError`` subclasses AWS uses, through ``trent.errors.catalogue`` (AWS's texts, with
their sources), with messages that never carry a secret, a derived key or the caller's signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from trent.errors import KMSError
from trent.errors import catalogue as errors

ALGORITHM = "AWS4-HMAC-SHA256"
_PREFIX = ALGORITHM + " "
_TERMINATOR = "aws4_request"
_CACHE_LIMIT = 1024
_CACHED_SIGNED_HEADERS = 512  # longest SignedHeaders value kept in the parse cache
_REQUIRED = ("Credential", "Signature", "SignedHeaders")
_SIGNATURE_VALUE = re.compile(r"(Signature=)[^,\s]*")
# Headers that choose what a request does: a signature must cover them whenever they are sent.
# Every other ``x-amz-*`` header present must be signed too (AWS's SDKs sign them all).
_MUST_SIGN = ("content-type", "x-amz-target", "x-amz-security-token")
_SHOWN_AUTHORIZATION = 256  # characters of an Authorization header echoed in an error
_SHOWN_VALUE = 64  # characters of any other request value echoed in an error


def canonical_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as SigV4 canonicalises them: ``{lower-case name: value}``.

    A header sent more than once has its values joined with ``","`` in the order received,
    each value with leading and trailing whitespace removed and inner runs of whitespace
    collapsed to one space (AWS General Reference, "Create a canonical request"). Trent
    dispatches on these same values, so what it runs is exactly what was signed: two
    ``X-Amz-Target`` headers become one value that names no operation.
    """
    joined: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = " ".join(value.decode("latin-1").split())
        joined[key] = f"{joined[key]},{text}" if key in joined else text
    return joined


def _no_session_tokens(access_key_id: str, token: str | None) -> None:
    """Without an STS store no session token is valid."""
    if token is not None:
        raise errors.INVALID_SECURITY_TOKEN()


def _shown(value: str, limit: int = _SHOWN_VALUE) -> str:
    """``value`` cut to ``limit`` characters for an error message (never echo large input)."""
    return value if len(value) <= limit else value[:limit] + "..."


def _header_title(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in _shown(name).split("-"))


def _amz(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _canonical_uri(path: str) -> str:
    """Normalise (dot segments, repeated slashes) and URI-encode the path once more than sent."""
    if path == "/" or not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    trail = "/" if path.endswith("/") and out else ""
    return quote("/" + "/".join(out) + trail, safe="/~")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        if item:
            k, _, v = item.partition("=")
            pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class SigV4Verifier:
    """Verifies AWS4-HMAC-SHA256 ``Authorization`` headers.

    A request is verified for one service (``verify(service=...)``, by default the one given
    here); its credential scope must name that service and one of the regions ``regions``
    allows for it (by default only ``region``; IAM and STS, global in AWS, also accept
    ``us-east-1``). ``check_session_token(access_key_id, token or None)`` raises when the
    ``X-Amz-Security-Token`` (or its absence) does not fit the access key.
    """

    def __init__(
        self,
        *,
        region: str,
        lookup_secret: Callable[[str], str | None],
        check_session_token: Callable[[str, str | None], None] = _no_session_tokens,
        service: str = "kms",
        regions: Mapping[str, Collection[str]] | None = None,
        max_skew_seconds: int = 300,
    ) -> None:
        self._check_token = check_session_token
        self._region = region
        self._service = service
        self._regions = {service: frozenset({region})}
        for name, allowed in (regions or {}).items():
            self._regions[name] = frozenset(allowed)
        self._lookup = lookup_secret
        self._skew = max_skew_seconds
        self._scope_tail = f"/{region}/{service}/{_TERMINATOR}"
        self._keys: dict[tuple[str, str, str, str, str], bytes] = {}
        # HMAC-SHA256 keyed with a signing key, copied per request (saves re-keying OpenSSL)
        self._macs: dict[bytes, hmac.HMAC] = {}
        # SignedHeaders value -> (its names in order, the same as a set); SDKs repeat one value
        self._signed_names: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._last_date: tuple[str, float] = ("", 0.0)

    def verify(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
        service: str | None = None,
        canonical: bool = False,
    ) -> str:
        """Return the access key id of a correctly signed request for ``service`` (default:
        the verifier's), or raise.

        ``headers`` are lower-case names mapped to values; ``canonical=True`` says they are
        exactly as ``canonical_headers`` gives them (values trimmed and collapsed), so they are
        not collapsed a second time.
        Raises ``MissingAuthenticationTokenException``, ``IncompleteSignatureException``,
        ``InvalidSignatureException`` (also when ``Host``, the date, ``Content-Type``,
        ``X-Amz-Target``, ``X-Amz-Security-Token`` or any other ``x-amz-*`` header present is
        not among the signed headers) or ``UnrecognizedClientException`` (unknown access key,
        or a security token Trent did not issue); error messages echo at most a short prefix of
        any request value.
        """
        auth = headers.get("authorization")
        if auth is None:
            if "X-Amz-Algorithm=" in query:
                raise errors.PRESIGNED_UNSUPPORTED()
            raise errors.MISSING_AUTHENTICATION()
        if not auth.startswith(_PREFIX):
            raise errors.UNSUPPORTED_ALGORITHM(scheme=auth.split(" ", 1)[0][:40])
        fields: dict[str, str] = {}
        for part in auth[len(_PREFIX) :].split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value

        date_name = "x-amz-date"
        amz_date = headers.get(date_name)
        if amz_date is None and (raw_date := headers.get("date")) is not None:
            date_name, amz_date = "date", _rfc1123_to_amz(raw_date)
        problems = [
            errors.AUTH_PARAMETER_MISSING.format(parameter=p)
            for p in _REQUIRED
            if not fields.get(p)
        ]
        if amz_date is None:
            problems.append(errors.AUTH_DATE_MISSING)
        if problems or amz_date is None:
            shown = _SIGNATURE_VALUE.sub(r"\1<redacted>", auth)
            raise errors.AUTHORIZATION_INCOMPLETE(
                problems=" ".join(problems), authorization=_shown(shown, _SHOWN_AUTHORIZATION)
            )

        self._check_clock(amz_date, now)
        signed = fields["SignedHeaders"]
        names, signed_set = self._names(signed)
        if "host" not in signed_set:
            raise errors.HOST_NOT_SIGNED()
        if date_name not in signed_set:
            shown_name = "X-Amz-Date" if date_name == "x-amz-date" else "Date"
            raise errors.HEADER_NOT_SIGNED(header=shown_name)
        for name in headers:
            if name not in signed_set and (name in _MUST_SIGN or name.startswith("x-amz-")):
                raise errors.HEADER_NOT_SIGNED(header=_header_title(name))

        credential = fields["Credential"]
        scope = credential.split("/")
        if len(scope) != 5:
            raise errors.CREDENTIAL_PARTS(credential=_shown(credential))
        key_id, day, region, scoped, terminator = scope
        if terminator != _TERMINATOR:
            raise errors.CREDENTIAL_TERMINATOR(terminator=_shown(terminator))
        expected_service = service or self._service
        allowed = self._regions.get(expected_service, ())
        if region not in allowed or scoped != expected_service or day != amz_date[:8]:
            raise self._scope_problems(region, allowed, scoped, expected_service, day, amz_date)
        secret = self._lookup(key_id)
        if secret is None:
            raise errors.INVALID_SECURITY_TOKEN()
        self._check_token(key_id, headers.get("x-amz-security-token"))

        payload_hash = hashlib.sha256(body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed is not None and claimed != payload_hash:
            raise errors.CONTENT_SHA256_MISMATCH()
        if canonical:
            canonical_headers = "".join([f"{n}:{headers.get(n, '')}\n" for n in names])
        else:
            canonical_headers = "".join(
                [f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names]
            )
        canonical_request = (
            f"{method.upper()}\n{_canonical_uri(path)}\n{_canonical_query(query)}\n"
            f"{canonical_headers}\n{signed}\n{payload_hash}"
        )
        tail = (
            self._scope_tail
            if region == self._region and scoped == self._service
            else f"/{region}/{scoped}/{_TERMINATOR}"
        )
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{day}{tail}\n"
            f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        mac = self._mac(self._signing_key(key_id, secret, day, region, scoped))
        mac.update(to_sign.encode())
        expected = mac.digest()
        provided = fields["Signature"]
        if not provided.isascii() or not hmac.compare_digest(expected.hex(), provided):
            raise errors.SIGNATURE_MISMATCH()
        return key_id

    def _check_clock(self, amz_date: str, now: float) -> None:
        last_date, when = self._last_date
        if amz_date != last_date:
            when = _amz_to_epoch(amz_date)
            self._last_date = (amz_date, when)
        if abs(when - now) <= self._skew:
            return
        window = f"{self._skew // 60} min." if self._skew % 60 == 0 else f"{self._skew} sec."
        if when < now:
            raise errors.SIGNATURE_EXPIRED(
                amz_date=amz_date, earliest=_amz(now - self._skew), now=_amz(now), window=window
            )
        raise errors.SIGNATURE_NOT_YET_CURRENT(
            amz_date=amz_date, latest=_amz(now + self._skew), now=_amz(now), window=window
        )

    def _scope_problems(
        self,
        region: str,
        allowed: Collection[str],
        service: str,
        expected: str,
        day: str,
        amz_date: str,
    ) -> KMSError:
        problems = []
        if region not in allowed:
            problems.append(errors.SCOPE_REGION)
        if service != expected:
            problems.append(errors.SCOPE_SERVICE.format(service=expected))
        if day != amz_date[:8]:
            problems.append(
                errors.SCOPE_DATE.format(day=_shown(day), date=amz_date[:8], amz_date=amz_date)
            )
        return errors.CREDENTIAL_SCOPE(problems="".join(problems))

    def _names(self, signed: str) -> tuple[tuple[str, ...], frozenset[str]]:
        """``SignedHeaders`` split on ``;``, in order and as a set (values of usual length are
        cached, at most ``_CACHE_LIMIT`` of them: this runs before the signature is checked)."""
        found = self._signed_names.get(signed)
        if found is None:
            names = tuple(signed.split(";"))
            found = (names, frozenset(names))
            if len(signed) <= _CACHED_SIGNED_HEADERS:
                if len(self._signed_names) >= _CACHE_LIMIT:
                    self._signed_names.clear()
                self._signed_names[signed] = found
        return found

    def _mac(self, signing_key: bytes) -> hmac.HMAC:
        """A fresh HMAC-SHA256 under ``signing_key`` (a copy of a cached, keyed one)."""
        base = self._macs.get(signing_key)
        if base is None:
            base = hmac.new(signing_key, digestmod=hashlib.sha256)
            if len(self._macs) >= _CACHE_LIMIT:
                self._macs.clear()
            self._macs[signing_key] = base
        return base.copy()

    def _signing_key(self, key_id: str, secret: str, day: str, region: str, service: str) -> bytes:
        cache_key = (key_id, secret, day, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            key = hmac.digest(("AWS4" + secret).encode(), day.encode(), "sha256")
            for part in (region, service, _TERMINATOR):
                key = hmac.digest(key, part.encode(), "sha256")
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            self._keys[cache_key] = key
        return key


def _bad_date(value: str) -> KMSError:
    return errors.BAD_DATE(value=value[:40])


def _amz_to_epoch(value: str) -> float:
    if len(value) != 16 or not value.isascii() or not (value[:8] + value[9:15]).isdigit():
        raise _bad_date(value)
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise _bad_date(value) from None


def _rfc1123_to_amz(value: str) -> str:
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError, OverflowError, IndexError):
        raise _bad_date(value) from None
