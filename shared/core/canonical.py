"""RFC 8785 (JSON Canonicalization Scheme) bytes, and a strict JSON parser that matches it.

Canonical bytes are the only thing the registry hashes or signs, so both directions are
strict: ``canonicalize`` refuses any value whose canonical form would be ambiguous or
lossy, and ``parse_json`` refuses any document that a different parser might read
differently (duplicate keys, NaN literals, a byte-order mark, invalid UTF-8).

Example::

    >>> canonicalize({"b": [1, 2.50, None], "a": "é"})
    b'{"a":"\\xc3\\xa9","b":[1,2.5,null]}'
    >>> parse_json(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    shared.core.errors.CanonicalizationError: duplicate object key 'a'

Errors are ``CanonicalizationError`` (an ``InputError``) whose ``path`` names the
offending value in JSONPath style, e.g. ``$.data.tags[2]`` or ``$["odd key"]``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import rfc8785

from shared.core.errors import CanonicalizationError

MAX_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1

# One pass over each string finds both characters we refuse: NUL (PostgreSQL text and
# jsonb cannot store it, so it would never round-trip) and lone UTF-16 surrogates
# (not encodable as UTF-8, so they have no canonical byte form).
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_UTF8_BOM = b"\xef\xbb\xbf"
# Keys with a character outside the Basic Multilingual Plane sort differently by UTF-16
# code units (RFC 8785) than by code points (Python).
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SORTED_COMPACT = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_UNSAFE_WHOLE_FLOAT_MIN = float(MAX_SAFE_INTEGER)
# ECMAScript (and so RFC 8785) switches to exponent notation at 1e21.
_EXPONENT_FORM_MIN = 1e21


class _BadValueError(Exception):
    """Internal: a rejection travelling up the walk, collecting path segments on the way.

    Building path strings only on failure keeps the happy path free of string work.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.segments: list[str] = []


def _key_segment(key: str) -> str:
    if _IDENTIFIER.match(key):
        return f".{key}"
    # ensure_ascii keeps the path printable even for keys full of control characters.
    return f"[{json.dumps(key)}]"


def _check_string(value: str, what: str) -> None:
    match = _FORBIDDEN_CHARS.search(value)
    if match is not None:
        if match.group() == "\x00":
            raise _BadValueError(f"{what} contains a NUL character (\\u0000)")
        raise _BadValueError(f"{what} contains a lone surrogate (\\u{ord(match.group()):04x})")


def _normalise(value: object, depth: int, exotic: list[bool]) -> object:
    """Validate ``value`` and return it as plain dict/list/scalars for ``rfc8785``.

    ``depth`` is the nesting level a container found here would have. ``exotic`` gets an
    entry for each float and each key outside the BMP: values ``json`` would write
    differently from RFC 8785.
    """
    # Exact types first: they are nearly every value, and cheaper to test than ABCs.
    kind = type(value)
    if type(value) is str:
        if _FORBIDDEN_CHARS.search(value) is not None:
            _check_string(value, "string")
        return value
    # bool is tested before int because bool is a subclass of int in Python.
    if value is None or value is True or value is False:
        return value
    if kind is int:
        _check_int(value)
        return value
    if kind is float:
        _check_float(value)
        exotic.append(True)
        return value
    if kind is dict or isinstance(value, Mapping):
        if depth > MAX_DEPTH:
            raise _BadValueError(f"nesting deeper than {MAX_DEPTH} levels")
        return _normalise_object(value, depth, exotic)  # type: ignore[arg-type]
    if isinstance(value, list | tuple):
        if depth > MAX_DEPTH:
            raise _BadValueError(f"nesting deeper than {MAX_DEPTH} levels")
        return _normalise_array(value, depth, exotic)
    if isinstance(value, str | int | float):
        # Subclasses (str enums, IntEnum) serialise surprisingly; insist on the base type.
        raise _BadValueError(
            f"{type(value).__name__} is a subclass of a JSON type; pass a plain value"
        )
    raise _BadValueError(f"{type(value).__name__} is not a JSON type")


def _check_int(value: Any) -> None:
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise _BadValueError(f"integer {value} is outside ±(2**53 - 1) and would lose precision")


def _check_float(value: Any) -> None:
    if not math.isfinite(value):
        raise _BadValueError("NaN and Infinity are not JSON")
    # RFC 8785 writes whole numbers below 1e21 without a fraction or exponent, so a float
    # such as 2.0**53 would read back as an integer beyond the safe range and the
    # canonical bytes would no longer parse. Refusing it keeps parse_json and canonicalize
    # exact inverses.
    if _UNSAFE_WHOLE_FLOAT_MIN < abs(value) < _EXPONENT_FORM_MIN and value.is_integer():
        raise _BadValueError(
            f"number {value!r} is a whole number beyond ±(2**53 - 1) and would lose precision"
        )


def _normalise_object(
    value: Mapping[Any, object], depth: int, exotic: list[bool]
) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise _BadValueError(f"object key {key!r} is not a string")
        try:
            if _FORBIDDEN_CHARS.search(key) is not None:
                _check_string(key, "object key")
            if not key.isascii() and _ASTRAL.search(key):
                exotic.append(True)
            result[key] = _normalise(item, depth + 1, exotic)
        except _BadValueError as exc:
            exc.segments.append(_key_segment(key))
            raise
    return result


def _normalise_array(
    value: list[object] | tuple[object, ...], depth: int, exotic: list[bool]
) -> list[object]:
    items: list[object] = []
    for index, item in enumerate(value):
        try:
            items.append(_normalise(item, depth + 1, exotic))
        except _BadValueError as exc:
            exc.segments.append(f"[{index}]")
            raise
    return items


def _validated(value: object, path: str, exotic: list[bool] | None = None) -> object:
    try:
        return _normalise(value, 1, [] if exotic is None else exotic)
    except _BadValueError as exc:
        full_path = path + "".join(reversed(exc.segments))
        raise CanonicalizationError(exc.detail, path=full_path) from None


def canonicalize(value: object, *, path: str = "$") -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Accepts None, bool, int (within ±MAX_SAFE_INTEGER), finite float, str, Mapping with
    str keys, list and tuple, nested at most MAX_DEPTH containers deep. ``path`` is the
    prefix used in error paths (the default ``$`` is the root of the value).
    """
    exotic: list[bool] = []
    plain = _validated(value, path, exotic)
    if not exotic:
        # Validated, float-free and with keys inside the BMP, the value is written by the
        # standard library's C encoder exactly as RFC 8785 writes it (same escapes, same
        # integer digits, keys in the same order); tests/unit/test_canonical_fast.py
        # holds the two against each other. Floats and astral keys take rfc8785.
        return _SORTED_COMPACT.encode(plain).encode("utf-8")
    try:
        return rfc8785.dumps(plain)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - pre-validated above
        raise CanonicalizationError(str(exc), path=path) from exc


def _reject_constant(name: str) -> Any:
    raise CanonicalizationError(f"{name} is not JSON", path="$")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        if key in result:
            raise CanonicalizationError(f"duplicate object key {key!r}", path="$")
        result[key] = item
    return result


def parse_json(raw: bytes) -> object:
    """Parse a JSON document strictly, then apply the same rules as ``canonicalize``.

    Any input bytes either parse to a value whose canonical form exists, or raise
    ``CanonicalizationError``; nothing else escapes.
    """
    data = bytes(raw)
    if data.startswith(_UTF8_BOM):
        raise CanonicalizationError("a UTF-8 byte-order mark is not allowed", path="$")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalizationError(
            f"invalid UTF-8 at byte {exc.start}", path="$", position=exc.start
        ) from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)
    except CanonicalizationError:
        raise
    except json.JSONDecodeError as exc:
        raise CanonicalizationError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path="$",
            position=exc.pos,
        ) from None
    except RecursionError:
        raise CanonicalizationError(f"nesting deeper than {MAX_DEPTH} levels", path="$") from None
    except ValueError as exc:
        # Python refuses to convert integers with thousands of digits; such a number
        # would be rejected as unsafe anyway.
        raise CanonicalizationError(f"invalid JSON number: {exc}", path="$") from None
    _validated(value, "$")
    return value
