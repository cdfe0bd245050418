"""The README's promises that code can check: the two commands and the config table."""

from __future__ import annotations

import re

from shared.settings import ENVIRONMENT_VARIABLES
from tests.functions.http_support import REPO

README = (REPO / "README.md").read_text()


def test_configuration_table_lists_exactly_the_environment_variables() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|$", README, flags=re.MULTILINE))
    assert rows == dict(ENVIRONMENT_VARIABLES)


def test_quickstart_is_the_two_make_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quickstart, flags=re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


def test_documentation_links_resolve() -> None:
    for target in re.findall(r"\]\(((?:docs)/[^)#]+)\)", README):
        assert (REPO / target).exists(), target
