"""tests/infra runs in its own virtualenv (.venv-hcl, built by tools/check_infra.sh).

The main test virtualenv has no python-hcl2, so `make test` leaves these files out. When
PLANT_INFRA_TESTS is set (check_infra.sh sets it), they are always collected, so a
missing parser fails loudly instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("hcl2") is None and not os.environ.get("PLANT_INFRA_TESTS"):
    collect_ignore_glob = ["test_*.py"]
