"""``make chaos`` cannot rot: one short fault through the same code, and its verdicts."""

from __future__ import annotations

import collections

import pytest

from tools import chaos

pytestmark = pytest.mark.timeout(120)


def test_a_short_terminate_storm_loses_nothing_and_answers_no_500() -> None:
    [row] = chaos.run(["terminate-storm"], seconds=1.5, baseline=False)
    assert row.fault == "backend terminate storm"
    assert row.acknowledged > 0
    assert row.present == row.acknowledged
    assert row.audit == "valid"
    assert row.statuses[500] == 0
    assert int(row.note.split()[0]) > 0, row.note  # the storm did terminate backends
    assert chaos.missed_targets([row]) == []
    assert "| backend terminate storm |" in chaos.table([row])


def _row(fault: str, **changes: object) -> chaos.Row:
    row = chaos.Row(
        fault=fault,
        acknowledged=10,
        present=10,
        audit="valid",
        statuses=collections.Counter({201: 10}),
        other_p99=0.1,
        normal_p99=0.1,
        note="",
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def test_every_missed_target_is_reported() -> None:
    stalled = chaos.FAULTS["stalled-lock"].name
    assert chaos.missed_targets([_row(stalled, other_p99=0.2)]) == []
    missed = chaos.missed_targets(
        [
            _row("a", present=9),
            _row("b", audit="t: INVALID at seq 3"),
            _row("c", statuses=collections.Counter({201: 9, 500: 1})),
            _row(stalled, other_p99=0.21),
        ]
    )
    assert [line.split(":")[0] for line in missed] == ["a", "b", "c", stalled]
