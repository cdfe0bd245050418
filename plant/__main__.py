"""``python -m plant`` is the ``plant`` command (see ``plant.entry``)."""

from __future__ import annotations

from plant.entry import main

main()
