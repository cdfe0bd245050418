"""The supersede function: ``POST /entities/{entity_id}`` appends a new version.

``expected_version`` is required: it is the optimistic-concurrency token that turns a
lost update into a 409 carrying the current version.
"""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes, written
from functions.routing import Route
from shared.core.commands import Supersede, parse_supersede


def supersede(call: Call) -> Reply:
    principal = call.authenticate(Supersede.scope)
    body = call.json_body()
    key = call.idempotency_key()
    command = parse_supersede(call.params["entity_id"], body)
    return written(call.registry.supersede(principal, command, idempotency_key=key))


ROUTES = function_routes(
    "supersede", [Route("POST", "/entities/{entity_id}", "supersede.entity", supersede)]
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
