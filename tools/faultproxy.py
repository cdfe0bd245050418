"""A loopback TCP proxy in front of PostgreSQL that injects network faults on demand.

Tests and ``make chaos`` put it between the registry and the database to make the
failures a real network produces: connections reset mid-request, a server that accepts
but never answers (a frozen instance), refused connections, and a connection that dies
at COMMIT, so the client cannot know whether it committed.

Example::

    with FaultProxy(upstream_unix="/tmp/pg/.s.PGSQL.5432") as proxy:
        url = f"postgresql+pg8000://app:pw@127.0.0.1:{proxy.port}/registry"
        proxy.reset_all()                 # every open connection gets a TCP RST
        proxy.freeze = True               # stop forwarding; sockets stay open
        proxy.drop_request(b"commit")     # COMMIT never reaches the server; the line dies
        proxy.drop_reply(b"COMMIT\\x00")   # the server committed; the client never hears
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

_CHUNK = 65536
# Longest pattern a drop can match across two reads.
_TAIL = 64


def _reset(sock: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN: the peer sees
    # ECONNRESET, as when a backend is terminated or a NAT forgets the connection.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _arrives(pattern: bytes | None, window: bytes, seen: int) -> bool:
    """Whether ``pattern`` ends in the new bytes of ``window`` (its first ``seen`` bytes
    were forwarded already, so a match wholly inside them is an old message)."""
    if pattern is None:
        return False
    return window.find(pattern, max(0, seen - len(pattern) + 1)) >= 0


class FaultProxy:
    """Forward 127.0.0.1:<port> to a PostgreSQL unix socket or TCP address."""

    def __init__(
        self, *, upstream_unix: str | None = None, upstream_tcp: tuple[str, int] | None = None
    ) -> None:
        if (upstream_unix is None) == (upstream_tcp is None):
            raise ValueError("give exactly one of upstream_unix and upstream_tcp")
        self._upstream_unix = upstream_unix
        self._upstream_tcp = upstream_tcp
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stopped = threading.Event()
        self._drop_pattern: bytes | None = None
        self._drop_reply_pattern: bytes | None = None
        self.dropped = threading.Event()
        # Knobs the fault scenarios turn.
        self.freeze = False  # accept and hold, forward nothing
        self.refuse = False  # accept and reset at once
        self.connections_opened = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- faults ----------------------------------------------------------------------

    def reset_all(self) -> int:
        """Reset every open connection (both sides); return how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def drop_request(self, pattern: bytes) -> None:
        """Reset both sides instead of forwarding the client bytes that contain ``pattern``
        (case-insensitive): the server never receives that message, so it never runs it,
        and the client's write succeeds but its read fails, as when the line dies while
        COMMIT is in flight. The match spans the proxy's reads, so a message split across
        two of them is caught all the same."""
        self.dropped.clear()
        self._drop_pattern = pattern.lower()

    def drop_reply(self, pattern: bytes) -> None:
        """Reset the client instead of forwarding the next server message containing
        ``pattern`` (a CommandComplete "COMMIT": the write is durable, unacknowledged)."""
        self.dropped.clear()
        self._drop_reply_pattern = pattern

    # --- plumbing --------------------------------------------------------------------

    def _connect_upstream(self) -> socket.socket:
        if self._upstream_unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._upstream_unix)
            return sock
        assert self._upstream_tcp is not None
        return socket.create_connection(self._upstream_tcp)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                _reset(client)
                continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections_opened += 1
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        # The last bytes already forwarded, so that a pattern split across two reads is
        # still found.
        tail = b""
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                while self.freeze and not self._stopped.is_set():
                    self._stopped.wait(0.05)
                window = tail + data
                # ``dropped`` is set before the reset: the client reacts to the reset at
                # once, and whoever it tells must already see the event.
                reply_pattern = self._drop_reply_pattern
                if not from_client and _arrives(reply_pattern, window, len(tail)):
                    self._drop_reply_pattern = None
                    self.dropped.set()
                    _reset(sink)
                    break
                pattern = self._drop_pattern
                if from_client and _arrives(pattern, window.lower(), len(tail)):
                    self._drop_pattern = None
                    self.dropped.set()
                    _reset(sink)
                    _reset(source)
                    break
                sink.sendall(data)
                tail = window[-_TAIL:]
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._pairs = [p for p in self._pairs if source not in p and sink not in p]

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.reset_all()
