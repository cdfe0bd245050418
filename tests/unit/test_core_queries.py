"""The read queries: ids, bounds, page sizes and the list cursor, each checked once."""

from __future__ import annotations

import pytest

from shared.core.errors import InputError, NotFoundError
from shared.core.queries import (
    ENTITY_PAGE,
    LOG_PAGE,
    MAX_SEQ,
    MAX_VERSION,
    cursor_after,
    entity_history,
    get_entity,
    list_entities,
    read_log,
)

ENTITY_ID = "01a20fba-5779-709b-92a3-e727764cf77c"


def test_ids_of_another_form_name_no_entity() -> None:
    for bad in ("e1", ENTITY_ID.upper(), f" {ENTITY_ID}", ""):
        with pytest.raises(NotFoundError):
            get_entity(bad)
        with pytest.raises(NotFoundError):
            entity_history(bad)
    assert get_entity(ENTITY_ID).version is None


@pytest.mark.parametrize("version", [0, MAX_VERSION + 1])
def test_versions_beyond_the_column_are_bad_parameters(version: int) -> None:
    with pytest.raises(InputError) as err:
        get_entity(ENTITY_ID, version)
    assert err.value.path == "query.version"
    assert get_entity(ENTITY_ID, MAX_VERSION).version == MAX_VERSION


def test_page_sizes_have_one_default_and_bounds() -> None:
    assert list_entities().limit == ENTITY_PAGE.default
    assert read_log().limit == LOG_PAGE.default
    assert read_log().from_seq == 1
    for build in (
        lambda: list_entities(limit=ENTITY_PAGE.high + 1),
        lambda: list_entities(limit=0),
        lambda: read_log(limit=LOG_PAGE.high + 1),
        lambda: read_log(from_seq=MAX_SEQ + 1),
    ):
        with pytest.raises(InputError):
            build()


def test_an_unknown_entity_type_filter_is_a_bad_parameter() -> None:
    with pytest.raises(InputError) as err:
        list_entities(entity_type="Spaceship")
    assert err.value.path == "query.entity_type"


def test_a_cursor_continues_only_the_query_it_came_from() -> None:
    skills = list_entities(entity_type="Skill", status="certified")
    cursor = cursor_after(ENTITY_ID, skills)
    assert list_entities(entity_type="Skill", status="certified", cursor=cursor).after == ENTITY_ID
    with pytest.raises(InputError, match="other filters"):
        list_entities(entity_type="Skill", cursor=cursor)
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (tampered, "not-a-cursor", "x"):
        with pytest.raises(InputError, match="not one this service issued"):
            list_entities(entity_type="Skill", status="certified", cursor=bad)
