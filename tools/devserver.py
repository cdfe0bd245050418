"""``make run``: all four functions on one local port, over a real (embedded) PostgreSQL.

Start-up, in order: read Settings from the environment; get a migrated database
(DATABASE_URL, else the embedded PostgreSQL under REGISTRY_DATA_DIR, kept between runs);
pick the signing key (SIGNING_KEY_FILE / KMS_KEY_VERSION, else a dev Ed25519 key), the
checkpoint key (CHECKPOINT_KEY_FILE / CHECKPOINT_KMS_KEY_VERSION, else a dev Ed25519 key;
LOG_ORIGIN defaults to plant-registry.dev/log), where checkpoints are published
(CHECKPOINT_BUCKET / CHECKPOINT_DIR, else REGISTRY_DATA_DIR/published, the dev stand-in
for the bucket) and the JWT key (JWT_PUBLIC_KEY_FILE / JWT_JWKS_URL, else a dev Ed25519
pair); export the result so the functions read exactly the configuration a deployment
would give them; then mount the real functions-framework apps under /create, /query,
/supersede and /verify, next to GET /healthz and GET /openapi.json; a timer runs the
checkpoint sweep (what Cloud Scheduler's job does when deployed), so logs nobody writes to
still get checkpoints after CHECKPOINT_MAX_AGE seconds. Ctrl-C (or SIGTERM) stops the
server and the embedded database; a watchdog process (tools/pg_watchdog.py) stops the
database if the server dies any other way, SIGKILL included.

Example::

    make run                       # then follow the printed curl example
    PORT=9000 make run
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import functions_framework
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.embedded import LocalDatabase, ensure_local_database
from shared.keys import ensure_dev_checkpoint_key, ensure_dev_signing_key
from shared.settings import Settings
from tools import pg_watchdog
from tools.mint_token import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_jwt_keys, mint

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "main.py"
OPENAPI = REPO / "docs" / "openapi.json"
TARGETS = ("create", "query", "supersede", "verify")
# Loopback only: the dev server trusts a dev key whose private half sits in the checkout.
HOST = "127.0.0.1"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _log(message: str) -> None:
    print(f"[devserver] {message}", file=sys.stderr, flush=True)


def configure(settings: Settings, database: LocalDatabase) -> tuple[dict[str, str], str | None]:
    """The environment the functions need, and a dev token when we hold the JWT key."""
    env: dict[str, str] = {}
    if not settings.uses_cloud_sql:
        env["DATABASE_URL"] = database.runtime_url
    if not (settings.signing_key_file or settings.kms_key_version):
        env["SIGNING_KEY_FILE"] = str(ensure_dev_signing_key(settings.data_dir))
    if not settings.checkpoint_bucket and settings.checkpoint_dir is None:
        # The dev stand-in for the bucket: the same publish-and-compare path as deployed.
        env["CHECKPOINT_DIR"] = str(settings.data_dir.resolve() / "published")
    if not (settings.checkpoint_key_file or settings.checkpoint_kms_key_version):
        env["CHECKPOINT_KEY_FILE"] = str(ensure_dev_checkpoint_key(settings.data_dir))
    env["LOG_ORIGIN"] = settings.effective_log_origin
    token = None
    issuer = settings.jwt_issuer or DEV_ISSUER
    audience = settings.jwt_audience or DEV_AUDIENCE
    env["JWT_ISSUER"], env["JWT_AUDIENCE"] = issuer, audience
    if not (settings.jwt_public_key_file or settings.jwt_jwks_url):
        keys = ensure_dev_jwt_keys(settings.data_dir)
        env["JWT_PUBLIC_KEY_FILE"] = str(keys.public_file)
        token = mint(keys, issuer=issuer, audience=audience, ttl=12 * 3600)
    return env, token


_EXTRA_PATHS = ("/healthz", "/openapi.json")


class Extras:
    """The dev server's own routes: /healthz, /openapi.json, and a 404 for the rest."""

    def __init__(self, health: Callable[[], Mapping[str, object]]) -> None:
        self._health = health

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response: Response
        if request.path in _EXTRA_PATHS and request.method not in ("GET", "HEAD"):
            # The functions answer a method a path does not take with 405 and Allow; so
            # do the dev server's own paths.
            response = Response(
                '{"type":"https://plant-registry.dev/problems/method-not-allowed",'
                '"title":"Method Not Allowed","status":405,'
                '"detail":"this resource allows only GET, HEAD"}',
                status=405,
                content_type="application/problem+json",
                headers={"Allow": "GET, HEAD"},
            )
        elif request.path == "/healthz":
            response = self._healthz()
        elif request.path == "/openapi.json":
            response = Response(OPENAPI.read_bytes(), content_type="application/json")
        else:
            response = Response(
                '{"type":"https://plant-registry.dev/problems/not-found","title":"Not Found",'
                '"status":404,"detail":"mounted: /create /query /supersede /verify '
                '/healthz /openapi.json"}',
                status=404,
                content_type="application/problem+json",
            )
        return response(environ, start_response)

    def _healthz(self) -> Response:
        try:
            body = dict(self._health())
        except Exception as exc:  # any failure means "not healthy"; say which kind
            kind = getattr(exc, "kind", type(exc).__name__)
            return Response(
                json.dumps({"status": "unavailable", "error": kind}),
                status=503,
                content_type="application/json",
                headers={"Retry-After": "5"},
            )
        return Response(json.dumps(body, default=str), content_type="application/json")


def sweep_interval(settings: Settings) -> float:
    """Seconds between sweeps: often enough that a checkpoint is at most about half of
    CHECKPOINT_MAX_AGE late, and never busier than once a second."""
    return float(min(30, max(1, settings.checkpoint_max_age // 2)))


def run_checkpoint_timer(stopping: threading.Event, interval: float) -> threading.Thread:
    """Run the checkpoint sweep every ``interval`` seconds until ``stopping`` is set."""
    from functions import runtime

    def loop() -> None:
        while not stopping.wait(interval):
            try:
                done = runtime.current().registry.checkpoint_sweep()
            except Exception as exc:  # the next tick retries; the server keeps serving
                _log(f"checkpoint sweep failed: {getattr(exc, 'kind', type(exc).__name__)}")
                continue
            if done["signed"] or done["published"] or done["failed"]:
                _log(
                    f"checkpoint sweep: {done['signed']} signed, {done['published']} "
                    f"published, {done['failed']} refused"
                )

    thread = threading.Thread(target=loop, name="checkpoint-timer", daemon=True)
    thread.start()
    return thread


def _mount_root(app: WsgiApp) -> WsgiApp:
    """``POST /create`` reaches the function's root as ``POST /create/`` does.

    Under a mount, a request for the prefix alone arrives with an empty PATH_INFO, which
    Flask would answer with a 308 text/html redirect to the slashed path.
    """

    def mounted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("PATH_INFO"):
            environ["PATH_INFO"] = "/"
        return app(environ, start_response)

    return mounted


def build_app() -> WsgiApp:
    """The four real functions-framework apps under their prefixes, plus the extras."""
    from functions import runtime

    apps = {
        f"/{t}": _mount_root(functions_framework.create_app(t, source=str(MAIN))) for t in TARGETS
    }
    extras = Extras(lambda: runtime.current().registry.health())
    app: WsgiApp = DispatcherMiddleware(extras, apps)
    return app


def _banner(port: int, token: str | None) -> str:
    base = f"http://{HOST}:{port}"
    lines = [
        "",
        f"Plant Registry dev server on {base}",
        "  functions: /create  /query  /supersede  /verify",
        f"  health:    {base}/healthz     API: {base}/openapi.json",
    ]
    if token:
        lines += [
            "",
            "Dev token (tenant 'dev', all scopes, 12 h):",
            f"  export TOKEN={token}",
            "",
            "Try:",
            f'  curl -s -X POST {base}/create -H "Authorization: Bearer $TOKEN" \\',
            "       -H 'Content-Type: application/json' \\",
            "       -d "
            + shlex.quote(
                '{"entity_type":"Skill","data":{"name":"Python",'
                '"description":"The language","category":"technical"}}'
            ),
            f'  curl -s {base}/query/entities -H "Authorization: Bearer $TOKEN"',
            "",
            "More tokens: make token TENANT=acme SCOPES='registry:read' TTL=600",
        ]
    else:
        lines += ["", "JWT keys come from your configuration: use a token from your issuer."]
    lines += ["Ctrl-C stops the server and the embedded database.", ""]
    return "\n".join(lines)


def main() -> int:
    settings = Settings.from_env(os.environ)
    _log("preparing the database (first run initialises the embedded PostgreSQL)")
    database = ensure_local_database(settings)
    watchdog = None
    if database.admin_url is not None and not settings.database_url:
        # Stops the embedded database even if this process is SIGKILLed.
        watchdog = pg_watchdog.start(settings.data_dir.resolve() / "postgres")
    server = None
    stopping = threading.Event()
    try:
        env, token = configure(settings, database)
        os.environ.update(env)
        # The functions already write one structured line per request; werkzeug's own
        # access log would only repeat it.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server(HOST, settings.port, build_app(), threaded=True)

        def stop(signum: int, frame: FrameType | None) -> None:
            # serve_forever runs in this thread, so shut it down from another one.
            if not stopping.is_set():
                stopping.set()
                threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        print(_banner(server.port, token), flush=True)
        run_checkpoint_timer(stopping, sweep_interval(Settings.from_env(os.environ)))
        server.serve_forever()
    finally:
        stopping.set()  # ends the checkpoint timer
        if server is not None:
            server.server_close()
        database.close()
        if watchdog is not None:
            watchdog.terminate()
        _log("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
