"""A point of a tenant's log that a read is answered as of: a seq, a moment, or both.

``AsOf(seq=n)`` is the registry as it stood once record ``n`` was appended;
``AsOf(moment=t)`` is the longest prefix of the log whose records were all created at
or before ``t`` (the service resolves it to a seq from verified records); given both,
the registry stood at both points, so the answer is as of whichever came first. Reads
given an ``AsOf`` serve the versions that were current at that point, and nothing
appended later.

Example::

    AsOf(seq=42)
    AsOf(moment=datetime(2026, 12, 1, tzinfo=UTC))
    AsOf.either(None, None)      # None: read now
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from shared.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class AsOf:
    seq: int | None = None
    moment: datetime | None = None

    def __post_init__(self) -> None:
        if self.seq is None and self.moment is None:
            raise InputError("give as_of_seq, as_of or both", path="query.as_of")
        if self.seq is not None and self.seq < 1:
            raise InputError("as_of_seq must be at least 1", path="query.as_of_seq")
        if self.moment is not None and self.moment.tzinfo is None:
            raise InputError("as_of needs a UTC offset", path="query.as_of")

    @classmethod
    def either(cls, seq: int | None, moment: datetime | None) -> AsOf | None:
        """The point a request names, or None for "now"."""
        if seq is None and moment is None:
            return None
        return cls(seq=seq, moment=moment)

    def cursor_fields(self) -> dict[str, object]:
        """What a list cursor is bound to, so a page continues at the same point."""
        fields: dict[str, object] = {}
        if self.seq is not None:
            fields["as_of_seq"] = self.seq
        if self.moment is not None:
            fields["as_of"] = self.moment.isoformat()
        return fields

    def describe(self) -> str:
        parts = [f"seq {self.seq}"] if self.seq is not None else []
        if self.moment is not None:
            parts.append(self.moment.isoformat())
        return " and ".join(parts)
