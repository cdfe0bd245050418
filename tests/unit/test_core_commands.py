"""The one parser of write commands: shape (400), limits and rules (422), the hash."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.commands import (
    MAX_BATCH,
    MAX_REASON_LENGTH,
    CreateBatch,
    CreateEntity,
    Supersede,
    parse_batch,
    parse_create,
    parse_idempotency_key,
    parse_supersede,
    request_hash,
)
from shared.core.errors import InputError, NotFoundError, RegistryError, ValidationError

INDUSTRY = {"name": "Energy", "description": "Power"}
ENTITY_ID = "01a20fba-5779-709b-92a3-e727764cf77c"


def _error(call: Any, *args: Any) -> RegistryError:
    with pytest.raises(RegistryError) as err:
        call(*args)
    return err.value


def test_create_normalises_data_and_knows_its_scope() -> None:
    command = parse_create({"entity_type": "Industry", "data": {**INDUSTRY, "name": " Energy "}})
    assert command == CreateEntity("Industry", INDUSTRY)
    assert command.scope == "registry:write"
    assert command.items() == [("$", command)]


@pytest.mark.parametrize(
    ("document", "kind", "path"),
    [
        ({"entity_type": "Industry"}, InputError, "$.data"),
        ({"entity_type": "Industry", "data": INDUSTRY, "seq": 1}, InputError, "$.seq"),
        ({"entity_type": "Industry", "data": INDUSTRY, "x": 1}, InputError, "$.x"),
        ({"entity_type": "Spaceship", "data": INDUSTRY}, ValidationError, "$.entity_type"),
        ({"entity_type": "Industry", "data": []}, InputError, "$.data"),
        ({"entity_type": "Industry", "data": {"name": "x"}}, ValidationError, "$.data.description"),
    ],
)
def test_create_refuses_by_fault(document: dict[str, object], kind: type, path: str) -> None:
    error = _error(parse_create, document)
    assert type(error) is kind
    assert error.evidence["path"] == path


def test_batch_items_carry_their_paths() -> None:
    items = [{"entity_type": "Industry", "data": {**INDUSTRY, "name": f"n{i}"}} for i in range(3)]
    batch = parse_batch({"entities": items})
    assert isinstance(batch, CreateBatch)
    assert [path for path, _ in batch.items()] == [f"$.entities[{i}]" for i in range(3)]
    error = _error(parse_batch, {"entities": [*items, {"entity_type": "Industry", "data": {}}]})
    assert error.evidence["path"] == "$.entities[3].data.name"


def test_batch_shape_comes_before_its_size_and_data() -> None:
    # A forged field deep in a too-large batch is still the 400 that names it.
    items: list[object] = [{"entity_type": "Industry", "data": {}}] * (MAX_BATCH + 1)
    forged = [*items, {"entity_type": "Industry", "data": INDUSTRY, "tenant_id": "other"}]
    error = _error(parse_batch, {"entities": forged})
    assert (type(error), error.evidence["path"]) == (
        InputError,
        f"$.entities[{MAX_BATCH + 1}].tenant_id",
    )
    assert type(_error(parse_batch, {"entities": items})) is ValidationError
    assert type(_error(parse_batch, {"entities": []})) is ValidationError
    assert type(_error(parse_batch, {"entities": {}})) is InputError
    assert _error(parse_batch, {"entities": [1]}).evidence["path"] == "$.entities[0]"


def test_an_integral_number_is_an_integer_version() -> None:
    # JSON has one number type and JSON Schema calls 31.0 an integer: so does the parser.
    command = parse_supersede(ENTITY_ID, {"expected_version": 31.0, "reason": "r", "status": "x"})
    assert command.expected_version == 31 and type(command.expected_version) is int
    error = _error(parse_supersede, ENTITY_ID, {"expected_version": 1.5, "reason": "r"})
    assert type(error) is InputError


def test_supersede_parses_in_the_contract_order() -> None:
    command = parse_supersede(ENTITY_ID, {"expected_version": 3, "reason": " why ", "status": "x"})
    assert command == Supersede(ENTITY_ID, 3, "why", None, "x")
    assert type(_error(parse_supersede, "e1", {"expected_version": 1, "reason": "r"})) is (
        NotFoundError
    )
    cases: list[tuple[dict[str, object], type, str]] = [
        ({"reason": "r"}, InputError, "$.expected_version"),
        ({"expected_version": True, "reason": "r"}, InputError, "$.expected_version"),
        ({"expected_version": 0, "reason": "r"}, InputError, "$.expected_version"),
        ({"expected_version": 1, "reason": "  "}, ValidationError, "$.reason"),
        (
            {"expected_version": 1, "reason": "r" * (MAX_REASON_LENGTH + 1)},
            ValidationError,
            "$.reason",
        ),
        ({"expected_version": 1, "reason": "r"}, ValidationError, "$"),
        ({"expected_version": 1, "reason": "r", "status": 1}, ValidationError, "$.status"),
        ({"expected_version": 1, "reason": "r", "data": [1]}, InputError, "$.data"),
    ]
    for document, kind, path in cases:
        error = _error(parse_supersede, ENTITY_ID, document)
        assert (type(error), error.evidence["path"]) == (kind, path), document


def test_the_request_hash_is_the_canonical_command() -> None:
    plain = parse_create({"entity_type": "Industry", "data": INDUSTRY})
    padded = parse_create(
        {"data": {"description": "Power ", "name": " Energy"}, "entity_type": "Industry"}
    )
    assert request_hash(plain) == request_hash(padded)
    other = parse_create({"entity_type": "Industry", "data": {**INDUSTRY, "name": "Oil"}})
    assert request_hash(plain) != request_hash(other)
    # A one-item batch is another command than a single create of the same entity.
    batch = parse_batch({"entities": [{"entity_type": "Industry", "data": INDUSTRY}]})
    assert request_hash(batch) != request_hash(plain)
    first = parse_supersede(ENTITY_ID, {"expected_version": 1, "reason": "r", "status": "retired"})
    second = parse_supersede(ENTITY_ID, {"expected_version": 2, "reason": "r", "status": "retired"})
    assert request_hash(first) != request_hash(second)


@pytest.mark.parametrize("raw", ["", " ", "a b", "é", "x" * 256, "tab\t"])
def test_idempotency_keys_are_visible_ascii(raw: str) -> None:
    error = _error(parse_idempotency_key, raw)
    assert error.evidence["path"] == "header.Idempotency-Key"


def test_idempotency_key_absent_or_valid() -> None:
    assert parse_idempotency_key(None) is None
    assert parse_idempotency_key("order-17") == "order-17"
    assert parse_idempotency_key("x" * 255) == "x" * 255
