"""Benchmark support: raw pg8000 connections, and the means behind the ratio summary.

A plain module (not conftest.py) so the tests and the summary hook share one copy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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


# name -> records one run handles; the summary prints these means as records/s too.
RECORDS: dict[str, int] = {}
# name -> (fastest, slowest) run, to show how noisy the machine was.
SPREAD: dict[str, tuple[float, float]] = {}


def alternate(benchmark: Any, runs: dict[str, Callable[[], object]], rounds: int) -> None:
    """Run every callable once per round, rotating the order, under ``benchmark``.

    On a shared machine load comes and goes; alternating the contenders inside each
    round exposes them to the same load, so their ratio means more than either figure.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)

    def one_round() -> None:
        for name in order:
            started = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - started)
        order.append(order.pop(0))

    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    for name, spent in times.items():
        MEANS[name] = statistics.fmean(spent)
        SPREAD[name] = (min(spent), max(spent))
