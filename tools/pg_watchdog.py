"""Stop the embedded PostgreSQL when the process that started it dies, however it dies.

``make run`` stops its database on Ctrl-C and SIGTERM itself, but a SIGKILLed (or
crashed) dev server runs no cleanup. This watchdog runs as a separate process in its own
session: it polls the dev server's pid and, once that process is gone, asks the
postmaster for a fast shutdown (SIGINT, via ``postmaster.pid``), then exits.

Example::

    python -m tools.pg_watchdog <dev server pid> <pgdata directory>
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def watch(parent: int, pgdata: Path) -> None:
    while _alive(parent) and os.getppid() != 1:
        time.sleep(POLL_SECONDS)
        if postmaster_pid(pgdata) is None:
            return  # the dev server stopped its database itself
    pid = postmaster_pid(pgdata)
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGINT)  # fast shutdown: roll back sessions, checkpoint, exit


def start(pgdata: Path) -> subprocess.Popen[bytes]:
    """Start a watchdog for this process and the server in ``pgdata``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tools.pg_watchdog", str(os.getpid()), str(pgdata)],
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,  # a signal to the dev server's group does not reach it
        stdin=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))
