"""The process-local bulkheads and token buckets (shared/limits.py), with a fake clock."""

from __future__ import annotations

import threading

import pytest

from shared.core.errors import StorageError, TooManyRequestsError
from shared.limits import Limits, Timeouts, TokenBucket
from shared.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # buckets are per key
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    clock.now += 100
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # capped at burst


def test_admit_request_raises_429_with_whole_seconds() -> None:
    clock = Clock()
    limits = Limits(rate_per_s=0.25, burst=1, clock=clock)
    limits.admit_request("acme")
    with pytest.raises(TooManyRequestsError) as raised:
        limits.admit_request("acme")
    assert raised.value.retry_after == 4
    Limits(rate_per_s=0, burst=1).admit_request("acme")  # 0 turns the limit off


def test_a_tenant_gets_at_most_its_cap_of_writers_others_are_unaffected() -> None:
    limits = Limits(tenant_max_writers=2, writer_slots=4)
    with limits.writer("acme"), limits.writer("acme"):
        assert limits.writers_in_flight("acme") == 2
        with pytest.raises(TooManyRequestsError), limits.writer("acme"):
            pass
        with limits.writer("globex"):
            assert limits.writers_in_flight("globex") == 1
    assert limits.writers_in_flight("acme") == 0
    with limits.writer("acme"):  # freed on exit, errors included
        pass


def test_writers_of_all_tenants_leave_a_connection_for_reads() -> None:
    limits = Limits(tenant_max_writers=5, writer_slots=2, writer_slot_wait_s=0.05)
    release = threading.Event()
    entered = threading.Barrier(3)

    def hold(tenant: str) -> None:
        with limits.writer(tenant):
            entered.wait()
            release.wait()

    threads = [threading.Thread(target=hold, args=(t,)) for t in ("a", "b")]
    for thread in threads:
        thread.start()
    entered.wait()
    with pytest.raises(StorageError), limits.writer("c"):
        pass
    release.set()
    for thread in threads:
        thread.join()


def test_only_max_audits_run_at_once() -> None:
    limits = Limits(max_audits=1)
    with limits.audit(), pytest.raises(TooManyRequestsError), limits.audit():
        pass
    with limits.audit():
        pass


def test_limits_follow_the_settings() -> None:
    settings = Settings(
        db_pool_size=5,
        db_max_overflow=2,
        db_lock_timeout_ms=1500,
        tenant_max_waiting_writers=3,
        tenant_rate_limit_per_s=0,
    )
    limits = Limits.from_settings(settings)
    assert limits.timeouts == Timeouts(
        lock_ms=1500, statement_ms=15000, idle_in_transaction_ms=30000
    )
    assert limits.tenant_max_writers == 3
    limits.admit_request("acme")  # rate 0: off
