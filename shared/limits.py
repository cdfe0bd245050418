"""Bounds on waiting: transaction timeouts, tenant bulkheads and per-tenant rate limits.

Everything here is process-local and in memory. It protects one process (one Cloud
Functions instance) from being filled by one tenant: a tenant whose appends queue behind a
stalled lock holder, or that sends a flood, is turned away at once with 429 and
``Retry-After`` while the other tenants keep their share of the connection pool. It does
not add up across instances: N instances admit N times the configured rate, and the
database's own timeouts (``Timeouts``) are what bound every wait globally.

Example::

    limits = Limits.from_settings(settings)
    limits.admit_request("acme")                # 429 once acme's bucket is empty
    with limits.writer("acme"):                 # 429 when acme already has 2 in flight
        ...append under the tenant's lock...
    with limits.audit():                        # 429 when an audit already runs here
        ...
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.core.errors import StorageError, TooManyRequestsError
from shared.settings import Settings


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Server-side limits set inside every transaction (``set_config(..., true)``).

    ``lock_ms`` bounds the wait for the tenant's append lock (and any row lock),
    ``statement_ms`` every statement, and ``idle_in_transaction_ms`` how long the server
    keeps a transaction whose client went quiet (a frozen process holding the lock).
    """

    lock_ms: int = 3000
    statement_ms: int = 15000
    idle_in_transaction_ms: int = 30000

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        return cls(
            lock_ms=settings.db_lock_timeout_ms,
            statement_ms=settings.db_statement_timeout_ms,
            idle_in_transaction_ms=settings.db_idle_in_tx_timeout_ms,
        )


class TokenBucket:
    """Per-key token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, time of last refill)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0.0, or the seconds until they would be there."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > 10_000:
                    self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely holds no information: drop it, so the
        # table stays as small as the set of recently active tenants.
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[key]


class _Counter:
    """Named in-flight counters with a cap each, for the per-tenant bulkhead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def try_enter(self, key: str, cap: int) -> bool:
        with self._lock:
            count = self._counts.get(key, 0)
            if count >= cap:
                return False
            self._counts[key] = count + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            count = self._counts[key] - 1
            if count:
                self._counts[key] = count
            else:
                del self._counts[key]

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class Limits:
    """The process's bulkheads and rate limits (see the module docstring)."""

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        tenant_max_writers: int = 2,
        writer_slots: int = 4,
        writer_slot_wait_s: float = 5.0,
        rate_per_s: float = 500.0,
        burst: int = 1000,
        max_audits: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.tenant_max_writers = tenant_max_writers
        self._writers = _Counter()
        # Writers of all tenants together may hold at most this many pooled connections,
        # so reads and verifies always find one even while writers queue on locks.
        self._writer_slots = threading.BoundedSemaphore(writer_slots)
        self._writer_slot_wait_s = writer_slot_wait_s
        self._bucket = TokenBucket(rate_per_s, burst, clock=clock) if rate_per_s > 0 else None
        self._audits = threading.BoundedSemaphore(max_audits)

    @classmethod
    def unbounded(cls, timeouts: Timeouts | None = None) -> Limits:
        """Only the database timeouts: no bulkheads, no rate limit (tests and tools)."""
        return cls(
            timeouts=timeouts,
            tenant_max_writers=1_000_000,
            writer_slots=1_000_000,
            rate_per_s=0,
            max_audits=1_000_000,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        connections = settings.db_pool_size + settings.db_max_overflow
        return cls(
            timeouts=Timeouts.from_settings(settings),
            tenant_max_writers=settings.tenant_max_waiting_writers,
            writer_slots=max(1, connections - 1),
            writer_slot_wait_s=float(settings.db_pool_timeout),
            rate_per_s=float(settings.tenant_rate_limit_per_s),
            burst=settings.tenant_rate_burst,
            max_audits=settings.audit_max_concurrent,
        )

    def admit_request(self, tenant_id: str) -> None:
        """Spend one token of the tenant's request budget, or raise 429."""
        if self._bucket is None:
            return
        wait = self._bucket.take(tenant_id)
        if wait:
            raise TooManyRequestsError(
                "this tenant is sending requests faster than this instance admits",
                retry_after=_whole_seconds(wait),
            )

    def writers_in_flight(self, tenant_id: str) -> int:
        return self._writers.count(tenant_id)

    @contextmanager
    def writer(self, tenant_id: str) -> Iterator[None]:
        """Admit one append for the tenant: 429 at once when it has too many in flight.

        Appends of one tenant are serial under its lock, so more than a couple per
        process only queue there; turning them away keeps a stalled lock holder from
        tying up the pool that every other tenant shares.
        """
        if not self._writers.try_enter(tenant_id, self.tenant_max_writers):
            raise TooManyRequestsError(
                "too many writes to this tenant are in flight; retry shortly",
                retry_after=_whole_seconds(self.timeouts.lock_ms / 1000),
            )
        try:
            if not self._writer_slots.acquire(timeout=self._writer_slot_wait_s):
                raise StorageError("every connection for writes is busy; retry shortly")
            try:
                yield
            finally:
                self._writer_slots.release()
        finally:
            self._writers.leave(tenant_id)

    @contextmanager
    def audit(self) -> Iterator[None]:
        """Admit one audit, or 429 while ``max_audits`` already run in this process."""
        if not self._audits.acquire(blocking=False):
            raise TooManyRequestsError(
                "an audit is already running here; retry later", retry_after=30
            )
        try:
            yield
        finally:
            self._audits.release()
