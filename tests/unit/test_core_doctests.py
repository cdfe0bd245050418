"""The examples in shared/core's docstrings run, so they cannot go stale.

Each module of the pure core opens with an example (STYLE.md); those written as ``>>>``
sessions are executed here with the module's own globals, as ``python -m doctest`` would.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import shared.core

CORE_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(shared.core.__path__, f"{shared.core.__name__}.")
)


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    # Failures are printed to stdout, which pytest shows with the failing test.
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_the_examples_are_sessions_where_they_can_be() -> None:
    # The modules whose examples need no key service, file or network run as sessions.
    runnable = {
        "canonical", "commands", "entities", "errors", "hashing", "merkle",
        "principal", "queries", "records", "signing", "tiles", "wire",
    }  # fmt: skip
    for name in runnable:
        module = importlib.import_module(f"shared.core.{name}")
        assert ">>> " in (module.__doc__ or ""), f"shared.core.{name} has no runnable example"
