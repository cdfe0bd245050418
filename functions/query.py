"""The query function: read entities, versions, history, filtered lists and the log."""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes
from functions.inputs import optional_int_param, text_param, timestamp_param
from functions.routing import Route
from shared.core import queries
from shared.core.asof import AsOf
from shared.core.principal import SCOPE_READ

AS_OF_PARAMS = frozenset({"as_of_seq", "as_of"})


def as_of(call: Call) -> AsOf | None:
    """``?as_of_seq=N`` and/or ``?as_of=<RFC 3339>``: the point of the log to read at."""
    return AsOf.either(
        optional_int_param(call.query, "as_of_seq"), timestamp_param(call.query, "as_of")
    )


def get_entity(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    version = optional_int_param(call.query, "version")
    query = queries.get_entity(call.params["entity_id"], version, as_of=as_of(call))
    record = call.registry.get(principal, query)
    return Reply(200, record.to_dict())


def history(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    records = call.registry.history(principal, queries.entity_history(call.params["entity_id"]))
    return Reply(200, {"items": [record.to_dict() for record in records]})


def list_entities(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    query = queries.list_entities(
        entity_type=text_param(call.query, "entity_type"),
        status=text_param(call.query, "status"),
        limit=optional_int_param(call.query, "limit"),
        cursor=text_param(call.query, "cursor"),
        as_of=as_of(call),
    )
    page = call.registry.list_entities(principal, query)
    return Reply(
        200,
        {"items": [record.to_dict() for record in page.items], "next_cursor": page.next_cursor},
    )


def log(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    query = queries.read_log(
        from_seq=optional_int_param(call.query, "from_seq"),
        limit=optional_int_param(call.query, "limit"),
    )
    page = call.registry.log(principal, query)
    return Reply(
        200,
        {
            "items": [record.to_dict() for record in page.items],
            "next_from_seq": page.next_from_seq,
        },
    )


ROUTES = function_routes(
    "query",
    [
        Route(
            "GET",
            "/entities",
            "query.list",
            list_entities,
            frozenset({"entity_type", "status", "limit", "cursor"}) | AS_OF_PARAMS,
        ),
        Route(
            "GET",
            "/entities/{entity_id}",
            "query.get",
            get_entity,
            frozenset({"version"}) | AS_OF_PARAMS,
        ),
        Route("GET", "/entities/{entity_id}/history", "query.history", history),
        Route("GET", "/log", "query.log", log, frozenset({"from_seq", "limit"})),
    ],
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
