"""The ``plant`` console script: the CLI when its extra is installed, else how to get it.

The client library works with the package's base dependencies; the command line needs
the ``cli`` extra. Without it, ``plant`` says so in one line instead of a traceback::

    pip install 'plant-registry[cli]'
"""

from __future__ import annotations

import sys

# The cli extra's packages (pyproject.toml); any other ImportError is a bug, not advice.
CLI_DEPENDENCIES = frozenset({"click", "rich", "platformdirs"})


def main() -> None:
    try:
        from plant.cli import run
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in CLI_DEPENDENCIES:
            raise
        sys.exit(
            f"plant: the command line needs {missing}, which comes with the cli extra: "
            "pip install 'plant-registry[cli]'"
        )
    run()
