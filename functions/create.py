"""The create function: ``POST /`` one entity, ``POST /batch`` up to 1000 at once."""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes, written
from functions.inputs import check_fields
from functions.routing import Route
from shared.core.principal import SCOPE_WRITE

CREATE_FIELDS = ("entity_type", "data")
BATCH_FIELDS = ("entities",)


def create_one(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_WRITE)
    body = call.json_body(allowed=CREATE_FIELDS, required=CREATE_FIELDS)
    result = call.registry.create(
        principal, body["entity_type"], body["data"], idempotency_key=call.idempotency_key()
    )
    return written(result)


def create_batch(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_WRITE)
    body = call.json_body(allowed=BATCH_FIELDS, required=BATCH_FIELDS, batch=True)
    entities = body["entities"]
    # Item shape is checked here so a forged field inside a batch gets the same 400 as
    # at the top level; types and domain rules are the service's (422).
    if isinstance(entities, list):
        for index, item in enumerate(entities):
            if isinstance(item, dict):
                check_fields(
                    item,
                    allowed=CREATE_FIELDS,
                    required=CREATE_FIELDS,
                    path=f"$.entities[{index}]",
                )
    result = call.registry.create_batch(principal, entities, idempotency_key=call.idempotency_key())
    return written(result, batch=True)


ROUTES = function_routes(
    "create",
    [
        Route("POST", "/", "create.entity", create_one),
        Route("POST", "/batch", "create.batch", create_batch),
    ],
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
