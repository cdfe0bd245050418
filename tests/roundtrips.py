"""Count network round trips at pg8000's socket.

A round trip is the client sending something and then waiting for the server's answer:
on the buffered stream pg8000 reads and writes (``connection._sock``), every read that
follows a write is one. Messages pipelined before one flush, however many, are one round
trip; a statement pg8000 runs as Parse / Describe / Bind-Execute with a wait between
each is three. The counter wraps the stream of every connection an engine opens, so it
counts what production code does, including pool pings and COMMIT.

Example::

    counter = RoundTripCounter.install(engine)
    with counter.measure() as trips:
        registry.get(principal, entity_id)
    assert trips.count <= 2
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclasses.dataclass
class Trips:
    count: int = 0


class _CountingStream:
    """A file-like stream that counts write-then-read transitions."""

    def __init__(self, inner: Any, counter: RoundTripCounter) -> None:
        self._inner = inner
        self._counter = counter
        self._sent = False

    def write(self, data: bytes) -> Any:
        self._sent = True
        return self._inner.write(data)

    def read(self, size: int = -1) -> bytes:
        if self._sent:
            self._sent = False
            self._counter.add()
        data: bytes = self._inner.read(size)
        return data

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RoundTripCounter:
    """Counts round trips on every connection of one engine (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._active: list[Trips] = []

    @classmethod
    def install(cls, engine: Engine) -> RoundTripCounter:
        counter = cls()

        @event.listens_for(engine, "connect")
        def _wrap(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection._sock = _CountingStream(dbapi_connection._sock, counter)

        return counter

    def add(self) -> None:
        with self._lock:
            self.total += 1
            for trips in self._active:
                trips.count += 1

    @contextmanager
    def measure(self) -> Iterator[Trips]:
        trips = Trips()
        with self._lock:
            self._active.append(trips)
        try:
            yield trips
        finally:
            with self._lock:
                self._active.remove(trips)
