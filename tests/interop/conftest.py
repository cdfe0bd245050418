"""Fixtures of the interop tests: the Go checker, built once per session."""

from __future__ import annotations

import pytest

from tests.interop.go_support import TlogCheck, build_tlogcheck


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> TlogCheck:
    return build_tlogcheck(tmp_path_factory)
