"""Commands: the typed requests the registry accepts, parsed once at the edge.

Every rule about a write request's shape has its home here: which fields a body may and
must have, which fields only the registry sets (``FORBIDDEN_FIELDS``), the batch size,
the reason's length, the Idempotency-Key's form, and the scope each command needs.
``functions/`` turns JSON into a command with one ``parse_*`` call; ``Registry`` accepts
only commands, and no layer below it checks these rules again. Data rules per entity type
stay in ``entities`` (the parser calls them); rules that need the stored log (references,
names, versions, transitions) run in the ledger, under the append lock.

Build commands with the parsers: the dataclasses trust their fields.

Example::

    >>> command = parse_create({"entity_type": "Industry",
    ...                         "data": {"name": " Energy ", "description": "Power"}})
    >>> command.data
    {'name': 'Energy', 'description': 'Power'}
    >>> parse_create({"entity_type": "Industry", "data": {}, "seq": 7})
    Traceback (most recent call last):
    ...
    shared.core.errors.InputError: seq is set by the registry and cannot be sent
    >>> request_hash(command) == request_hash(create_entity("Industry",
    ...     {"name": "Energy", "description": "Power"}))
    True

Fault split, as everywhere: a body of the wrong shape (not an object, unknown, missing or
forbidden fields) is malformed (InputError, 400); a well-formed value that breaks a rule
(a batch too large, an empty reason) is a ValidationError (422).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, NewType

from shared.core import entities
from shared.core.canonical import canonicalize
from shared.core.errors import InputError, NotFoundError, ValidationError
from shared.core.hashing import sha256
from shared.core.principal import SCOPE_WRITE

MAX_BATCH = 1000
MAX_REASON_LENGTH = 1000

CREATE_FIELDS = ("entity_type", "data")
BATCH_FIELDS = ("entities",)
SUPERSEDE_FIELDS = ("expected_version", "reason", "data", "status")
SUPERSEDE_REQUIRED = ("expected_version", "reason")

# Fields the registry writes itself. Naming them in a request is an attempt to forge
# provenance, so it gets its own message rather than a generic "unknown field".
FORBIDDEN_FIELDS = frozenset(
    {
        "tenant_id",
        "tenant",
        "seq",
        "leaf_hash",
        "chain_hash",
        "prev_chain_hash",
        "hash",
        "hashes",
        "signature",
        "key_id",
        "signing_key_id",
        "created_at",
        "created_by",
        "entity_id",
        "version",
        "supersedes",
        "supersedes_version",
        "canonical",
    }
)

# What a stored Idempotency-Key row's request hash is the hash of (see request_hash).
COMMAND_FORMAT = "plant-registry/command/v1"

IdempotencyKey = NewType("IdempotencyKey", str)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}\Z")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


@dataclasses.dataclass(frozen=True)
class CreateEntity:
    """Create one entity: a known type and data already normalised by its rules."""

    scope: ClassVar[str] = SCOPE_WRITE
    entity_type: str
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"entity_type": self.entity_type, "data": dict(self.data)}

    def items(self) -> list[tuple[str, CreateEntity]]:
        """The entities to create, each with where it stands in the request."""
        return [("$", self)]


@dataclasses.dataclass(frozen=True)
class CreateBatch:
    """Create 1 to MAX_BATCH entities, all or nothing."""

    scope: ClassVar[str] = SCOPE_WRITE
    entities: tuple[CreateEntity, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"entities": [item.to_dict() for item in self.entities]}

    def items(self) -> list[tuple[str, CreateEntity]]:
        return [(f"$.entities[{i}]", item) for i, item in enumerate(self.entities)]


@dataclasses.dataclass(frozen=True)
class Supersede:
    """Append a new version of ``entity_id``; ``expected_version`` must be current.

    ``data`` is checked against the entity's type inside the write, where the type is
    known from its verified current version.
    """

    scope: ClassVar[str] = SCOPE_WRITE
    entity_id: str
    expected_version: int
    reason: str
    data: Mapping[str, object] | None = None
    status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "expected_version": self.expected_version,
            "reason": self.reason,
            "data": None if self.data is None else dict(self.data),
            "status": self.status,
        }


WriteCommand = CreateEntity | CreateBatch | Supersede


def request_hash(command: WriteCommand) -> bytes:
    """What an Idempotency-Key binds to: the hash of the command's canonical form.

    Parsed commands are normalised, so two bodies that differ only in what the parser
    strips (surrounding whitespace, key order) are the same request.
    """
    document = {"format": COMMAND_FORMAT, "command": type(command).__name__}
    return sha256(canonicalize({**document, "body": command.to_dict()}))


# --- parsers ------------------------------------------------------------------------


def check_fields(
    document: Mapping[str, object],
    *,
    allowed: Collection[str],
    required: Collection[str] = (),
    path: str = "$",
) -> None:
    """Refuse registry-owned, unknown and missing fields of one JSON object (400)."""
    for name in document:
        if name in FORBIDDEN_FIELDS:
            raise InputError(
                f"{name} is set by the registry and cannot be sent", path=f"{path}.{name}"
            )
    for name in document:
        if name not in allowed:
            shown = shown_name(name)
            raise InputError(f"unknown field {shown!r}", path=f"{path}.{shown}")
    for name in required:
        if name not in document:
            raise InputError(f"{name} is required", path=f"{path}.{name}")


def shown_name(name: str) -> str:
    """A client-sent field or parameter name as errors may echo it.

    The name is not echoed into a path unless it is a plain identifier: it is client text
    and the path ends up in logs.
    """
    return name if _PLAIN_NAME.match(name) else "?"


def create_entity(entity_type: object, data: object, *, path: str = "$") -> CreateEntity:
    """One entity to create, its type known and its data normalised (422 otherwise)."""
    kind = entities.entity_type(entity_type, path=f"{path}.entity_type")
    return CreateEntity(kind, entities.validate_data(kind, data, path=f"{path}.data"))


def parse_create(document: Mapping[str, object]) -> CreateEntity:
    """``POST /create``: ``{"entity_type", "data"}``."""
    check_fields(document, allowed=CREATE_FIELDS, required=CREATE_FIELDS)
    return create_entity(document["entity_type"], document["data"])


def parse_batch(document: Mapping[str, object]) -> CreateBatch:
    """``POST /create/batch``: ``{"entities": [{"entity_type", "data"}, ...]}``.

    Every item's shape is checked before any limit or data rule, so a forged field inside
    a batch gets the same 400 as at the top level.
    """
    check_fields(document, allowed=BATCH_FIELDS, required=BATCH_FIELDS)
    items = document["entities"]
    if not isinstance(items, list):
        raise InputError("entities must be a list of {entity_type, data}", path="$.entities")
    for index, item in enumerate(items):
        path = f"$.entities[{index}]"
        if not isinstance(item, dict):
            raise InputError("each entity must be an object", path=path)
        check_fields(item, allowed=CREATE_FIELDS, required=CREATE_FIELDS, path=path)
    if not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(
            f"a batch holds 1 to {MAX_BATCH} entities, not {len(items)}", path="$.entities"
        )
    return CreateBatch(
        tuple(
            create_entity(item["entity_type"], item["data"], path=f"$.entities[{index}]")
            for index, item in enumerate(items)
        )
    )


def parse_supersede(entity_id: str, document: Mapping[str, object]) -> Supersede:
    """``POST /supersede/entities/{entity_id}``: ``{"expected_version", "reason", ...}``."""
    check_fields(document, allowed=SUPERSEDE_FIELDS, required=SUPERSEDE_REQUIRED)
    if not entities.is_entity_id(entity_id):
        raise NotFoundError(f"no entity {entity_id!r}")
    expected_version = document["expected_version"]
    if type(expected_version) is float and expected_version.is_integer():
        # JSON has one number type: 31.0 is the integer 31, as JSON Schema says too.
        expected_version = int(expected_version)
    if type(expected_version) is not int or expected_version < 1:
        raise InputError(
            "expected_version is required: the version you are superseding (an integer >= 1)",
            path="$.expected_version",
        )
    reason = document["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason is required: say why this version exists", path="$.reason")
    if len(reason.strip()) > MAX_REASON_LENGTH:
        raise ValidationError(
            f"reason is longer than {MAX_REASON_LENGTH} characters", path="$.reason"
        )
    data, status = document.get("data"), document.get("status")
    if data is None and status is None:
        raise ValidationError("a new version needs new data, a new status, or both", path="$")
    if status is not None and not isinstance(status, str):
        raise ValidationError("status must be a string", path="$.status")
    if data is not None and not isinstance(data, dict):
        raise InputError("data must be a JSON object", path="$.data")
    return Supersede(entity_id, expected_version, reason.strip(), data, status)


def parse_idempotency_key(raw: str | None) -> IdempotencyKey | None:
    """The Idempotency-Key header's value: 1-255 visible ASCII characters, or absent."""
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY.match(raw):
        raise InputError(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            path="header.Idempotency-Key",
        )
    return IdempotencyKey(raw)
