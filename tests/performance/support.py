"""Benchmark support: raw pg8000 connections, and the means behind the ratio summary.

A plain module (not conftest.py) so the tests and the summary hook share one copy.
"""

from __future__ import annotations

from typing import Any

import pg8000.dbapi
import sqlalchemy as sa

# label -> (registry benchmark, raw benchmark) whose mean ratio the summary prints.
PAIRS: dict[str, tuple[str, str]] = {}
MEANS: dict[str, float] = {}


def record_mean(name: str, benchmark: Any) -> None:
    MEANS[name] = benchmark.stats.stats.mean


def raw_connect(url: str) -> Any:
    """A bare pg8000 DB-API connection for a SQLAlchemy URL (no pool, no ORM)."""
    parsed = sa.make_url(url)
    options: dict[str, Any] = {"user": parsed.username, "database": parsed.database}
    if parsed.password:
        options["password"] = parsed.password
    if "unix_sock" in parsed.query:
        options["unix_sock"] = parsed.query["unix_sock"]
    else:
        options["host"], options["port"] = parsed.host or "127.0.0.1", parsed.port or 5432
    return pg8000.dbapi.connect(**options)
