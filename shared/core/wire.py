"""JSON wire encodings shared by records, checkpoints and proofs: timestamps, digests,
base64 and the strict shape checks every ``from_dict`` uses.

One fixed timestamp form and one strict reader per kind of value mean a value read back
from JSON is exactly the value that was written, or an ``InputError`` naming its path.

Example::

    >>> from datetime import UTC, datetime
    >>> text = format_timestamp(datetime(2026, 11, 24, 22, 24, 56, 123456, tzinfo=UTC))
    >>> text
    '2026-11-24T22:24:56.123456Z'
    >>> parse_timestamp(text).microsecond
    123456
    >>> hex_digest("ab" * 32, "$.leaf_hash") == bytes.fromhex("ab" * 32)
    True
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.core.errors import InputError

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


def format_timestamp(dt: datetime) -> str:
    """UTC with exactly six fractional digits and a Z, e.g. 2026-11-24T22:24:56.123456Z.

    One fixed-width form means the same instant always has the same canonical bytes.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InputError("timestamps must be timezone-aware", path="$.created_at")
    u = dt.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def parse_timestamp(s: str, *, path: str = "$.created_at") -> datetime:
    """Inverse of ``format_timestamp``; only that exact form is accepted."""
    if not isinstance(s, str) or not _TIMESTAMP.match(s):
        raise InputError(
            "timestamp must look like 2026-11-24T22:24:56.123456Z", path=path, found=repr(s)
        )
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InputError(f"invalid timestamp: {exc}", path=path) from None


def field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``data[name]`` when it has type ``kind``; InputError otherwise."""
    value = data.get(name)
    # bool is an int subclass; a boolean sequence number is a bug, not a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(f"{name} is missing or has the wrong type", path=f"$.{name}")
    return value


def optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    if data.get(name) is None:
        return None
    return field(data, name, kind)


def mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError("expected a JSON object")
    return data


def nonneg_int(data: Mapping[str, Any], name: str) -> int:
    value: int = field(data, name, int)
    if value < 0:
        raise InputError(f"{name} must not be negative", path=f"$.{name}")
    return value


def hex_digest(value: object, path: str) -> bytes:
    if not isinstance(value, str) or not _HEX_DIGEST.match(value):
        raise InputError("expected a lowercase hex SHA-256 digest", path=path)
    return bytes.fromhex(value)


def hash_list(value: object, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InputError("expected a list of hex digests", path=path)
    return tuple(hex_digest(item, f"{path}[{i}]") for i, item in enumerate(value))


def b64decode(value: object, path: str) -> bytes:
    if not isinstance(value, str):
        raise InputError("expected a base64 string", path=path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("invalid base64", path=path) from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
