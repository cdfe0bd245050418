"""Queries: the typed reads the registry answers, built once at the edge.

The read rules live here, once: an entity id's form, the highest version and seq a
record can have, page sizes and their defaults, the list filters and the cursor that
continues a list. ``functions/`` turns path and query parameters into a query with one
call (``get_entity``, ``entity_history``, ``list_entities``, ``read_log``); ``Registry``
accepts only queries and reads what they name without checking them again.

Build queries with these functions: the dataclasses trust their fields.

Example::

    >>> get_entity("01a20fba-5779-709b-92a3-e727764cf77c", 2).version
    2
    >>> get_entity("not-an-id")
    Traceback (most recent call last):
    ...
    shared.core.errors.NotFoundError: no entity not-an-id
    >>> page = list_entities(entity_type="Skill")
    >>> (page.limit, page.after)
    (50, None)
    >>> next_cursor = cursor_after("01a20fba-5779-709b-92a3-e727764cf77c", page)
    >>> list_entities(entity_type="Skill", cursor=next_cursor).after
    '01a20fba-5779-709b-92a3-e727764cf77c'
    >>> read_log(from_seq=0)
    Traceback (most recent call last):
    ...
    shared.core.errors.InputError: from_seq must be between 1 and 9223372036854775807
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import ClassVar

from shared.core import entities
from shared.core.asof import AsOf
from shared.core.canonical import canonicalize, parse_json
from shared.core.errors import CanonicalizationError, InputError, NotFoundError
from shared.core.hashing import digests_equal, sha256
from shared.core.principal import SCOPE_READ
from shared.core.records import VersionRecord

# A record's version is a PostgreSQL integer and its seq a bigint (shared/schema.py).
MAX_VERSION = 2**31 - 1
MAX_SEQ = 2**63 - 1

# Every status some entity type can be in: what the status filter may name.
STATUSES = (
    entities.PENDING_CERTIFICATION,
    entities.CERTIFIED,
    entities.DEPRECATED,
    entities.ACTIVE,
    entities.RETIRED,
)

_CURSOR_DOMAIN = b"plant-registry/cursor/v1\x00"
_CURSOR_CHECK_BYTES = 8


@dataclasses.dataclass(frozen=True)
class PageSize:
    """How many items one page may hold, and how many it holds when not asked."""

    low: int
    high: int
    default: int


ENTITY_PAGE = PageSize(1, 200, 50)
LOG_PAGE = PageSize(1, 1000, 100)


@dataclasses.dataclass(frozen=True)
class GetEntity:
    """One entity: its current version, or ``version``; with ``as_of``, as it stood
    then (``version`` too only if it had been written by then)."""

    scope: ClassVar[str] = SCOPE_READ
    entity_id: str
    version: int | None = None
    as_of: AsOf | None = None

    def not_found(self) -> NotFoundError:
        error = _not_found(self.entity_id, self.version)
        if self.as_of is None:
            return error
        return NotFoundError(f"{error.detail} as of {self.as_of.describe()}")


@dataclasses.dataclass(frozen=True)
class EntityHistory:
    """Every version of one entity, oldest first."""

    scope: ClassVar[str] = SCOPE_READ
    entity_id: str

    def not_found(self) -> NotFoundError:
        return _not_found(self.entity_id, None)


@dataclasses.dataclass(frozen=True)
class ListEntities:
    """Current versions (or those current ``as_of`` a point), filtered, in entity id
    order after ``after`` (keyset pages)."""

    scope: ClassVar[str] = SCOPE_READ
    entity_type: str | None
    status: str | None
    limit: int
    after: str | None = None
    as_of: AsOf | None = None


@dataclasses.dataclass(frozen=True)
class ReadLog:
    """The tenant's log in seq order from ``from_seq``."""

    scope: ClassVar[str] = SCOPE_READ
    from_seq: int
    limit: int


@dataclasses.dataclass(frozen=True)
class EntityPage:
    """The answer to a ListEntities: the page, and the cursor of the next one if any."""

    items: list[VersionRecord]
    next_cursor: str | None


def _not_found(entity_id: str, version: int | None) -> NotFoundError:
    suffix = f" version {version}" if version is not None else ""
    return NotFoundError(f"no entity {entity_id}{suffix}")


def in_range(name: str, value: int, low: int, high: int) -> int:
    """``value`` of query parameter ``name`` if low <= value <= high; 400 otherwise."""
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}", path=f"query.{name}")
    return value


def get_entity(
    entity_id: str, version: int | None = None, *, as_of: AsOf | None = None
) -> GetEntity:
    """An id of any other form names no entity (404); a version beyond any is a 400."""
    if version is not None:
        in_range("version", version, 1, MAX_VERSION)
    if as_of is not None and as_of.seq is not None:
        in_range("as_of_seq", as_of.seq, 1, MAX_SEQ)
    if not entities.is_entity_id(entity_id):
        raise _not_found(entity_id, version)
    return GetEntity(entity_id, version, as_of)


def entity_history(entity_id: str) -> EntityHistory:
    if not entities.is_entity_id(entity_id):
        raise _not_found(entity_id, None)
    return EntityHistory(entity_id)


def list_entities(
    *,
    entity_type: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    as_of: AsOf | None = None,
) -> ListEntities:
    """A page of current versions; ``cursor`` must come from the same filters and point."""
    if entity_type is not None:
        entities.entity_type(entity_type, path="query.entity_type", error=InputError)
    if status is not None and status not in STATUSES:
        # Refused like an unknown entity_type: a misspelt filter must not look like
        # "nothing matches".
        raise InputError(f"status must be one of {', '.join(STATUSES)}", path="query.status")
    size = ENTITY_PAGE.default if limit is None else limit
    in_range("limit", size, ENTITY_PAGE.low, ENTITY_PAGE.high)
    if as_of is not None and as_of.seq is not None:
        in_range("as_of_seq", as_of.seq, 1, MAX_SEQ)
    query = ListEntities(entity_type, status, size, as_of=as_of)
    if cursor is None:
        return query
    return dataclasses.replace(query, after=_decode_cursor(cursor, query))


def read_log(*, from_seq: int | None = None, limit: int | None = None) -> ReadLog:
    """A page of the log from ``from_seq`` (1 by default)."""
    start = in_range("from_seq", 1 if from_seq is None else from_seq, 1, MAX_SEQ)
    size = LOG_PAGE.default if limit is None else limit
    return ReadLog(start, in_range("limit", size, LOG_PAGE.low, LOG_PAGE.high))


# --- the list cursor ----------------------------------------------------------------
# A cursor names the last entity id of a page and the filters it was made for, with a
# short checksum: not a secret, only a guard against edits and reuse with other filters.


def cursor_after(entity_id: str, query: ListEntities) -> str:
    """The cursor that continues ``query`` after ``entity_id``."""
    payload = canonicalize(_cursor_fields(entity_id, query))
    check = sha256(_CURSOR_DOMAIN + payload)[:_CURSOR_CHECK_BYTES]
    return base64.urlsafe_b64encode(check + payload).rstrip(b"=").decode("ascii")


def _cursor_fields(entity_id: str, query: ListEntities) -> dict[str, object]:
    fields: dict[str, object] = {
        "after": entity_id,
        "entity_type": query.entity_type,
        "status": query.status,
    }
    if query.as_of is not None:
        fields.update(query.as_of.cursor_fields())
    return fields


def _decode_cursor(cursor: str, query: ListEntities) -> str:
    """The entity id a cursor continues after; InputError if it was altered or misused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        check, payload = raw[:_CURSOR_CHECK_BYTES], raw[_CURSOR_CHECK_BYTES:]
        if not digests_equal(check, sha256(_CURSOR_DOMAIN + payload)[:_CURSOR_CHECK_BYTES]):
            raise ValueError("checksum")
        fields = parse_json(payload)
    except (binascii.Error, ValueError, CanonicalizationError) as exc:
        raise InputError("cursor is not one this service issued", path="cursor") from exc
    if not isinstance(fields, dict) or not entities.is_entity_id(fields.get("after")):
        raise InputError("cursor is not one this service issued", path="cursor")
    if fields != _cursor_fields(fields["after"], query):
        raise InputError("cursor belongs to a query with other filters", path="cursor")
    after: str = fields["after"]
    return after
