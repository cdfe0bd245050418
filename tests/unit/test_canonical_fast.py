"""The standard library's C encoder path of ``canonicalize`` writes RFC 8785 byte for byte.

``canonicalize`` hands a validated value without floats or astral keys to ``json``'s C
encoder instead of the pure-Python ``rfc8785`` writer. Here both writers see the same
values — generated ones heavy in escapes, control characters, non-ASCII and astral text,
edge integers and nesting — and must agree on every byte; the RFC 8785 vectors in
test_core_canonical.py run through the same function.
"""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.canonical import MAX_SAFE_INTEGER, canonicalize

# Characters where JSON writers disagree when they disagree at all.
_TRICKY = st.sampled_from(
    [
        *["\x01", "\x1f", "\x7f", '"', "\\", "/", "\b", "\f", "\n", "\r", "\t"],
        *["\u2028", "\u2029", "\ue000", "\uffff", "é", "€", "\U0001f600", "\U00010000"],
    ]
)
_TEXT = st.lists(_TRICKY | st.characters(exclude_categories=["Cs"]), max_size=12).map("".join)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.sampled_from([0, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 2**31, 10**15])
    | _TEXT.filter(lambda s: "\x00" not in s)
)
_KEYS = _TEXT.filter(lambda s: "\x00" not in s)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(_VALUES)
def test_the_fast_path_writes_what_rfc8785_writes(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, st.floats(-1e15, 1e15, allow_nan=False) | st.floats(1e21, 1e300)))
def test_values_with_floats_still_match(value: dict[str, float]) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


def test_keys_outside_the_bmp_sort_by_utf16_code_units() -> None:
    # U+1F600 sorts after U+FF01 by code point but before it by UTF-16 code unit (D83D).
    value = {"\U0001f600": 1, "\uff01": 2, "a": {"\U0001f600": 3, "\uff01": 4}}
    assert canonicalize(value) == rfc8785.dumps(value)  # type: ignore[arg-type]
    assert canonicalize(value).index("\U0001f600".encode()) < canonicalize(value).index(
        "\uff01".encode()
    )


def test_control_characters_are_escaped_in_lowercase_hex() -> None:
    assert canonicalize("\x01\x1f\x7f") == b'"\\u0001\\u001f\x7f"'
