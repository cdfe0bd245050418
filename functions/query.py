"""The query function: read entities, versions, history, filtered lists and the log."""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes
from functions.inputs import int_param, optional_int_param, text_param
from functions.routing import Route
from shared.core.principal import SCOPE_READ
from shared.schema import MAX_SEQ, MAX_VERSION

LIST_LIMIT = (1, 200, 50)  # low, high, default
LOG_LIMIT = (1, 1000, 100)


def get_entity(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    version = optional_int_param(call.query, "version", low=1, high=MAX_VERSION)
    record = call.registry.get(principal, call.params["entity_id"], version)
    return Reply(200, record.to_dict())


def history(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    records = call.registry.history(principal, call.params["entity_id"])
    return Reply(200, {"items": [record.to_dict() for record in records]})


def list_entities(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    low, high, default = LIST_LIMIT
    page = call.registry.list_entities(
        principal,
        entity_type=text_param(call.query, "entity_type"),
        status=text_param(call.query, "status"),
        limit=int_param(call.query, "limit", default=default, low=low, high=high),
        cursor=text_param(call.query, "cursor"),
    )
    return Reply(
        200,
        {"items": [record.to_dict() for record in page.items], "next_cursor": page.next_cursor},
    )


def log(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    low, high, default = LOG_LIMIT
    page = call.registry.log(
        principal,
        from_seq=int_param(call.query, "from_seq", default=1, low=1, high=MAX_SEQ),
        limit=int_param(call.query, "limit", default=default, low=low, high=high),
    )
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
            frozenset({"entity_type", "status", "limit", "cursor"}),
        ),
        Route("GET", "/entities/{entity_id}", "query.get", get_entity, frozenset({"version"})),
        Route("GET", "/entities/{entity_id}/history", "query.history", history),
        Route("GET", "/log", "query.log", log, frozenset({"from_seq", "limit"})),
    ],
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
