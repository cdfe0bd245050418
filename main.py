"""Cloud Functions entry points: the four HTTP targets of Plant Registry.

Cloud Functions loads ``main.py`` from the bundle root and calls the target named by
``--entry-point``; each target hands the request to its function's router. Locally::

    functions-framework --target query --source main.py --port 8081
"""

from __future__ import annotations

import os

import flask
import functions_framework
from werkzeug.exceptions import HTTPException

from functions import create as _create
from functions import logs, runtime
from functions import query as _query
from functions import supersede as _supersede
from functions import verify as _verify
from functions.endpoint import framework_error

# Every module's log records leave as Cloud Logging JSON lines from the first request on;
# the level follows LOG_LEVEL once the runtime's settings are read.
logs.install("INFO")
# Cold start checks the whole configuration and logs every missing variable at once; each
# function's GET /healthz then answers with the same list (functions/runtime.py).
runtime.preflight(os.environ)
# functions-framework executes this module inside its Flask app's context, so errors Flask
# raises before a target runs (an unmatchable path) can be answered with problem+json too.
if flask.has_app_context():
    flask.current_app.register_error_handler(HTTPException, framework_error)


@functions_framework.http
def create(request: flask.Request) -> flask.Response:
    """POST / and POST /batch: append new entities."""
    return _create.handle(request)


@functions_framework.http
def query(request: flask.Request) -> flask.Response:
    """GET entities, versions, history, lists and the tenant's log."""
    return _query.handle(request)


@functions_framework.http
def supersede(request: flask.Request) -> flask.Response:
    """POST /entities/{entity_id}: append the next version of an entity."""
    return _supersede.handle(request)


@functions_framework.http
def verify(request: flask.Request) -> flask.Response:
    """GET proofs, checkpoints, consistency and keys; POST /audit."""
    return _verify.handle(request)
