"""Benchmark support: raw pg8000 connections and a ratio table printed after the run.

Every registry operation is benchmarked next to the raw PostgreSQL operation it wraps,
in the same run on the same server, and the summary prints registry/raw ratios.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Database
from tests.performance.support import MEANS, PAIRS, RECORDS, SPREAD, raw_connect


@pytest.fixture(scope="session")
def raw_table(database: Database) -> str:
    """A plain table shaped like the version log: no RLS, no triggers, no signatures."""
    conn = raw_connect(database.admin_url)
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE IF NOT EXISTS public.bench_raw (tenant_id text, seq bigint, "
        "entity_id uuid, version int, entity_type text, status text, name_key text, "
        "created_at timestamptz, created_by text, data jsonb, canonical bytea, "
        "leaf_hash bytea, chain_hash bytea, signature bytea, key_id text, "
        "PRIMARY KEY (tenant_id, seq))"
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS bench_raw_type "
        "ON public.bench_raw (tenant_id, entity_type, entity_id)"
    )
    conn.commit()
    conn.close()
    return "public.bench_raw"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEANS:
        return
    terminalreporter.section("registry vs raw PostgreSQL (mean, same run)")
    for label, (ours, raw) in PAIRS.items():
        if ours in MEANS and raw in MEANS:
            terminalreporter.write_line(
                f"{label:<26} registry {MEANS[ours] * 1e3:8.3f} ms  "
                f"raw {MEANS[raw] * 1e3:8.3f} ms  ratio {MEANS[ours] / MEANS[raw]:5.2f}x"
            )
    for name, mean in sorted(MEANS.items()):
        if not any(name in pair for pair in PAIRS.values()):
            terminalreporter.write_line(f"{name:<28} {mean * 1e6:12.1f} us")
    if RECORDS:
        terminalreporter.section("records per second (mean; fastest..slowest round)")
    for name, count in RECORDS.items():
        if name in MEANS:
            fastest, slowest = SPREAD.get(name, (MEANS[name], MEANS[name]))
            terminalreporter.write_line(
                f"{name:<34} {count / MEANS[name]:>10,.0f}/s "
                f"({count / slowest:,.0f}..{count / fastest:,.0f}) over {count:,} records"
            )
