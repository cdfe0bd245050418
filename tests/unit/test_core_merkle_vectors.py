"""transparency-dev/merkle's published inclusion and consistency probes, failing ones too.

The files under tests/vectors/transparency-dev-merkle are copied unchanged from that
repository's ``testdata/`` (provenance in tests/vectors/README.md). Each probe says
whether verification must succeed (``wantErr`` false) or fail; ours must agree on every
one, exactly as ``proof/verify_test.go`` checks the Go implementation.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from shared.core.errors import VerificationError
from shared.core.merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "transparency-dev-merkle"


def _probes(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [
        pytest.param(json.loads(f.read_text("utf-8")), id=str(f.relative_to(VECTORS)))
        for f in files
    ]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _hashes(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


INCLUSION = _probes("inclusion")
CONSISTENCY = _probes("consistency")


def test_the_whole_published_set_is_present() -> None:
    # 98 + 98 files at the pinned commit; a partial copy would silently test less.
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    wanting_errors = [p for p in INCLUSION + CONSISTENCY if p.values[0]["wantErr"]]
    assert len(wanting_errors) == 184


@pytest.mark.parametrize("probe", INCLUSION)
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    def run() -> None:
        verify_inclusion(
            index=probe["leafIdx"],
            tree_size=probe["treeSize"],
            leaf_hash=_b64(probe["leafHash"]),
            proof=_hashes(probe["proof"]),
            root=_b64(probe["root"]),
        )

    if probe["wantErr"]:
        with pytest.raises(VerificationError) as info:
            run()
        assert info.value.check == "inclusion"
    else:
        run()


@pytest.mark.parametrize("probe", CONSISTENCY)
def test_consistency_probe(probe: dict[str, Any]) -> None:
    def run() -> None:
        verify_consistency(
            first_size=probe["size1"],
            second_size=probe["size2"],
            first_root=_b64(probe["root1"]),
            second_root=_b64(probe["root2"]),
            proof=_hashes(probe["proof"]),
        )

    if probe["wantErr"]:
        with pytest.raises(VerificationError) as info:
            run()
        assert info.value.check == "consistency"
    else:
        run()
