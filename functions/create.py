"""The create function: ``POST /`` one entity, ``POST /batch`` up to 1000 at once."""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes, written
from functions.routing import Route
from shared.core.commands import CreateBatch, CreateEntity, parse_batch, parse_create


def create_one(call: Call) -> Reply:
    principal = call.authenticate(CreateEntity.scope)
    body = call.json_body()
    key = call.idempotency_key()
    result = call.registry.create(principal, parse_create(body), idempotency_key=key)
    return written(result)


def create_batch(call: Call) -> Reply:
    principal = call.authenticate(CreateBatch.scope)
    body = call.json_body(batch=True)
    key = call.idempotency_key()
    result = call.registry.create(principal, parse_batch(body), idempotency_key=key)
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
