"""The dev server's checkpoint timer: the sweep Cloud Scheduler runs when deployed."""

from __future__ import annotations

import threading
from typing import Any

from functions import runtime
from shared.settings import Settings
from tools.devserver import run_checkpoint_timer, sweep_interval


class _SweepingRegistry:
    def __init__(self) -> None:
        self.sweeps = threading.Semaphore(0)

    def checkpoint_sweep(self) -> dict[str, int]:
        self.sweeps.release()
        return {"signed": 1, "published": 0, "failed": 0}


def test_the_sweep_runs_at_about_half_the_maximum_age() -> None:
    assert sweep_interval(Settings(checkpoint_max_age=60)) == 30
    assert sweep_interval(Settings(checkpoint_max_age=1)) == 1
    assert sweep_interval(Settings(checkpoint_max_age=3600)) == 30


def test_the_timer_sweeps_until_stopped() -> None:
    registry = _SweepingRegistry()
    fake: Any = type("FakeRuntime", (), {"registry": registry})()
    runtime.install(fake)
    stopping = threading.Event()
    try:
        thread = run_checkpoint_timer(stopping, 0.01)
        assert registry.sweeps.acquire(timeout=5)
        assert registry.sweeps.acquire(timeout=5)  # it keeps going
    finally:
        stopping.set()
        runtime.install(None)
    thread.join(timeout=5)
    assert not thread.is_alive()
