from __future__ import annotations

import contextlib
import datetime
import decimal
import enum
import json
import struct
import types
from pathlib import Path
from typing import Any, cast

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, canonicalize, parse_json
from shared.core.errors import CanonicalizationError, InputError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
RFC = json.loads((VECTORS / "rfc8785.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", RFC["documents"], ids=lambda d: d["name"])
def test_rfc8785_documents(doc: dict[str, str]) -> None:
    value = parse_json(doc["input"].encode("utf-8"))
    assert canonicalize(value) == doc["expected"].encode("utf-8")


@pytest.mark.parametrize(("bits", "expected"), RFC["numbers"])
def test_rfc8785_number_samples(bits: str, expected: str) -> None:
    number = struct.unpack(">d", bytes.fromhex(bits))[0]
    # The serializer we delegate to matches the RFC for every sample...
    assert rfc8785.dumps(number) == expected.encode()
    if number.is_integer() and MAX_SAFE_INTEGER < abs(number) < 1e21:
        # ...but we refuse whole numbers beyond 2**53 written without an exponent: they
        # would read back as integers outside the safe range (see canonical.py).
        with pytest.raises(CanonicalizationError, match="2\\*\\*53"):
            canonicalize([number])
    else:
        assert canonicalize([number]) == f"[{expected}]".encode()


@pytest.mark.parametrize("bits", RFC["invalid_numbers"])
def test_rfc8785_invalid_numbers(bits: str) -> None:
    number = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(CanonicalizationError, match="NaN and Infinity"):
        canonicalize({"n": number})


def test_canonical_error_is_an_input_error() -> None:
    assert issubclass(CanonicalizationError, InputError)


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"data": {"x": float("nan")}}, "$.data.x", "NaN"),
        ({"data": {"x": float("inf")}}, "$.data.x", "Infinity"),
        ({"data": {"x": float("-inf")}}, "$.data.x", "Infinity"),
        ({"a": [MAX_SAFE_INTEGER + 1]}, "$.a[0]", "outside"),
        ({"a": [-MAX_SAFE_INTEGER - 1]}, "$.a[0]", "outside"),
        ({"data": {"tags": ["a", "b", "c\x00"]}}, "$.data.tags[2]", "NUL"),
        ({"data": {"k\x00": 1}}, '$.data["k\\u0000"]', "NUL"),
        ({"s": "x\ud800y"}, "$.s", "surrogate"),
        ({"s": "\udfff"}, "$.s", "surrogate"),
        ({"\ud83d": 1}, '$["\\ud83d"]', "surrogate"),
        ({"a": {1: "x"}}, "$.a", "not a string"),
        ({"a": {None: "x"}}, "$.a", "not a string"),
        ({"b": b"bytes"}, "$.b", "bytes is not a JSON type"),
        ({"b": {1, 2}}, "$.b", "set is not a JSON type"),
        ({"b": datetime.datetime(2026, 1, 1)}, "$.b", "datetime is not a JSON type"),
        ({"b": decimal.Decimal("1.5")}, "$.b", "Decimal is not a JSON type"),
        ({"b": Colour.RED}, "$.b", "subclass"),
        ({"odd key": [0, float("nan")]}, '$["odd key"][1]', "NaN"),
        ({"x": _nest(MAX_DEPTH)}, "$.x" + "[0]" * (MAX_DEPTH - 1), "deeper than 64"),
    ],
)
def test_canonicalize_rejects_with_path(value: object, path: str, message: str) -> None:
    with pytest.raises(CanonicalizationError, match=message) as info:
        canonicalize(value)
    assert info.value.path == path
    assert info.value.evidence["path"] == path


def test_depth_limit_is_exact() -> None:
    assert canonicalize(_nest(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    with pytest.raises(CanonicalizationError) as info:
        canonicalize(_nest(MAX_DEPTH + 1))
    assert info.value.path == "$" + "[0]" * MAX_DEPTH


def test_path_prefix_parameter() -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonicalize({"tags": [1.0, float("nan")]}, path="$.data")
    assert info.value.path == "$.data.tags[1]"


def test_safe_integer_bounds_are_inclusive() -> None:
    assert canonicalize([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[9007199254740991,-9007199254740991]"
    )


def test_whole_floats_beyond_safe_range_are_rejected_unless_in_exponent_form() -> None:
    with pytest.raises(CanonicalizationError, match="whole number") as info:
        canonicalize({"x": [2.0**53]})
    assert info.value.path == "$.x[0]"
    assert canonicalize(float(MAX_SAFE_INTEGER)) == b"9007199254740991"
    assert canonicalize(1e21) == b"1e+21"
    assert parse_json(canonicalize([1e21, 2.5, 1.0])) == [1e21, 2.5, 1]


def test_bool_is_not_treated_as_int() -> None:
    assert canonicalize({"t": True, "f": False, "n": None}) == b'{"f":false,"n":null,"t":true}'


def test_mappings_and_tuples_are_accepted() -> None:
    proxy = types.MappingProxyType({"b": (1, 2), "a": "x"})
    assert canonicalize(proxy) == b'{"a":"x","b":[1,2]}'


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+1F600 is a surrogate pair (D83D DE00) in UTF-16, so it sorts before U+FB33 even
    # though its code point is larger: sorting by code point would get this wrong.
    assert canonicalize({"\ufb33": 1, "\U0001f600": 2}) == ('{"\U0001f600":2,"\ufb33":1}'.encode())


# --- parse_json -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'"\xff"', "invalid UTF-8"),
        (b'{"a": "\xc3"}', "invalid UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "byte-order mark"),
        (b'{"a": 1', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"{'a': 1}", "invalid JSON"),
        (b'{"a": 1} x', "invalid JSON"),
        (b'{"a": 1, "a": 2}', "duplicate object key 'a'"),
        (b'{"x": {"b": 1, "b": 1}}', "duplicate object key 'b'"),
        (b"[NaN]", "NaN is not JSON"),
        (b'{"a": Infinity}', "Infinity is not JSON"),
        (b"-Infinity", "-Infinity is not JSON"),
        (b"[1e400]", "NaN and Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper than 64"),
        (b"9" * 5000, "invalid JSON number"),
        (b'"\\u0000"', "NUL"),
        (b'{"a": ["\\ud800"]}', "surrogate"),
        (b'"tab\there"', "invalid JSON"),
    ],
)
def test_parse_json_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(CanonicalizationError, match=message):
        parse_json(raw)


def test_parse_json_reports_value_paths() -> None:
    with pytest.raises(CanonicalizationError) as info:
        parse_json(b'{"data": {"tags": ["a", "b", "c\\u0000"]}}')
    assert info.value.path == "$.data.tags[2]"
    with pytest.raises(CanonicalizationError) as info:
        parse_json(b'{"n": [1, 9007199254740992]}')
    assert info.value.path == "$.n[1]"
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    with pytest.raises(CanonicalizationError) as info:
        parse_json(deep)
    assert info.value.path == "$" + "[0]" * MAX_DEPTH


def test_parse_json_accepts_valid_documents() -> None:
    assert parse_json(b' {"a": [1, 2.5, "\\u00e9", true, null]} ') == {
        "a": [1, 2.5, "é", True, None]
    }
    assert parse_json(cast(bytes, bytearray(b"[]"))) == []  # what a WSGI body may be


# Surrogates have no UTF-8 form and NUL no PostgreSQL one: canonicalize refuses both.
_STORABLE = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: not (f.is_integer() and MAX_SAFE_INTEGER < abs(f) < 1e21)
    )
    | st.text(_STORABLE),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(_STORABLE),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_json_only_ever_raises_canonicalization_error(raw: bytes) -> None:
    try:
        value = parse_json(raw)
    except CanonicalizationError:
        return
    # Whatever parses must have a canonical form.
    canonicalize(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='[]{}",:0123456789.eE+-tfrulnsa\\u \x00\ud800', max_size=60))
def test_parse_json_on_json_like_text(text: str) -> None:
    with contextlib.suppress(CanonicalizationError):
        parse_json(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_round_trip(value: object) -> None:
    canonical = canonicalize(value)
    assert canonicalize(parse_json(canonical)) == canonical
    # Canonical output is also ordinary JSON that the standard library reads back.
    assert canonicalize(json.loads(canonical)) == canonical
