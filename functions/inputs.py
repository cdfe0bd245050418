"""Request input: JSON bodies and query parameters.

Bodies are refused early and cheaply: 415 before reading when the media type is wrong,
413 on the declared Content-Length *and* on the bytes actually read (a chunked body has
no Content-Length), then the strict parser that matches our canonical form. What the
object may hold is the command parser's rule (shared.core.commands), as is the
Idempotency-Key's form.

Example::

    command = parse_create(read_json_object(request, max_bytes=1 << 20))
    query = list_entities(limit=optional_int_param(args, "limit"))
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Protocol

from functions.problems import PayloadTooLargeError, UnsupportedMediaTypeError
from shared.core.canonical import parse_json
from shared.core.commands import shown_name
from shared.core.errors import InputError

_READ_CHUNK = 64 * 1024
# Decimal digits only: no sign, no spaces, no underscores, no exponent. Nineteen digits
# reach the largest seq a BIGINT holds (2**63 - 1, as the spec admits) and keep int()
# away from huge inputs; each query's own bound then applies.
_UNSIGNED = re.compile(r"[0-9]{1,19}\Z")
_MAX_TEXT_PARAM = 1024


class Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BodyRequest(Protocol):
    """The slice of a werkzeug request that body reading needs."""

    @property
    def mimetype(self) -> str: ...
    @property
    def mimetype_params(self) -> Mapping[str, str]: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def stream(self) -> Stream: ...


def read_body(request: BodyRequest, *, max_bytes: int) -> bytes:
    """The raw body, refusing a wrong media type (415) or more than ``max_bytes`` (413)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaTypeError("the request body must be application/json")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError("JSON bodies must be UTF-8")
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise PayloadTooLargeError(
            f"the body is larger than {max_bytes} bytes", max_bytes=max_bytes
        )
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk = request.stream.read(_READ_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLargeError(
                f"the body is larger than {max_bytes} bytes", max_bytes=max_bytes
            )
        chunks.append(chunk)
    return b"".join(chunks)


def read_json_object(request: BodyRequest, *, max_bytes: int) -> dict[str, object]:
    """Parse the body strictly into a JSON object; its fields are the command's to check."""
    raw = read_body(request, max_bytes=max_bytes)
    if not raw:
        raise InputError("the request body is empty; send a JSON object")
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise InputError("the request body must be a JSON object")
    return document


def _single(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InputError(f"{name} is given more than once", path=f"query.{name}")
    return values[0]


def check_params(args: Mapping[str, list[str]], allowed: Collection[str]) -> None:
    for name in args:
        if name not in allowed:
            shown = shown_name(name)
            raise InputError(f"unknown query parameter {shown!r}", path=f"query.{shown}")


def optional_int_param(args: Mapping[str, list[str]], name: str) -> int | None:
    """An optional whole-number query parameter (its bounds are the query's rule)."""
    raw = _single(args, name)
    if raw is None:
        return None
    if not _UNSIGNED.match(raw):
        raise InputError(f"{name} must be a whole number", path=f"query.{name}")
    return int(raw)


def required_int_param(args: Mapping[str, list[str]], name: str) -> int:
    value = optional_int_param(args, name)
    if value is None:
        raise InputError(f"{name} is required", path=f"query.{name}")
    return value


def text_param(args: Mapping[str, list[str]], name: str) -> str | None:
    """An optional text query parameter: non-empty, bounded, no control characters."""
    raw = _single(args, name)
    if raw is None:
        return None
    if not raw or len(raw) > _MAX_TEXT_PARAM or not raw.isprintable():
        raise InputError(f"{name} is not a valid value", path=f"query.{name}")
    return raw


# RFC 3339 section 5.6 date-time: a full date, "T", a full time with an optional
# fraction, and an offset that is "Z" or +/-hh:mm. Nothing looser (no bare dates, no
# missing offset: a moment without one means a different instant on every server).
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<hm>\d{2}:\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<offset>[Zz]|[+-]\d{2}:[0-5]\d)\Z"
)


def timestamp_param(args: Mapping[str, list[str]], name: str) -> datetime | None:
    """An optional RFC 3339 date-time query parameter, as an aware UTC datetime."""
    raw = _single(args, name)
    if raw is None:
        return None
    match = _RFC3339.match(raw)
    if not match:
        raise InputError(
            f"{name} must be an RFC 3339 date-time such as 2026-12-01T09:30:00Z",
            path=f"query.{name}",
        )
    # Microseconds are the resolution records are stamped with, so finer digits cannot
    # change the answer. A leap second (:60) is the last instant of its minute.
    second = match["s"]
    fraction = (match["frac"] or "").ljust(6, "0")[:6]
    if second == "60":
        second, fraction = "59", "999999"
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        moment = datetime.fromisoformat(
            f"{match['date']}T{match['hm']}:{second}.{fraction}{offset}"
        )
    except ValueError:
        raise InputError(f"{name} is not a valid date-time", path=f"query.{name}") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is an instant of year 0, before every record; its
        # mirror at year 9999 is after every record. Both are the log's ends.
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)
