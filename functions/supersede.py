"""The supersede function: ``POST /entities/{entity_id}`` appends a new version.

``expected_version`` is required: it is the optimistic-concurrency token that turns a
lost update into a 409 carrying the current version.
"""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes, written
from functions.routing import Route
from shared.core.principal import SCOPE_WRITE

SUPERSEDE_FIELDS = ("expected_version", "reason", "data", "status")
SUPERSEDE_REQUIRED = ("expected_version", "reason")


def supersede(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_WRITE)
    body = call.json_body(allowed=SUPERSEDE_FIELDS, required=SUPERSEDE_REQUIRED)
    result = call.registry.supersede(
        principal,
        call.params["entity_id"],
        expected_version=body["expected_version"],
        reason=body["reason"],
        data=body.get("data"),
        status=body.get("status"),
        idempotency_key=call.idempotency_key(),
    )
    return written(result)


ROUTES = function_routes(
    "supersede", [Route("POST", "/entities/{entity_id}", "supersede.entity", supersede)]
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
