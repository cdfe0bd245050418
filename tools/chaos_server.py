"""The server ``make chaos`` attacks: ``make run``'s app, with KMS and GCS behind fakes.

It serves the four real functions exactly as the dev server does (tools/devserver.py),
with the configuration from the environment (DATABASE_URL, JWT_PUBLIC_KEY_FILE, the
limits and timeouts), except that the Registry signs with the real ``KmsSigner`` and
publishes with the real ``GcsCheckpointPublisher``, each talking to a loopback fake
(tools/chaos_fakes.py) instead of Google. It prints ``ready <port>`` once it listens and
stops on SIGTERM.

Example::

    KMS_KEY_VERSION=... CHECKPOINT_BUCKET=chaos DATABASE_URL=... JWT_PUBLIC_KEY_FILE=... \\
        python -m tools.chaos_server --kms http://127.0.0.1:4001 --gcs http://127.0.0.1:4002
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from werkzeug.serving import make_server

from functions import runtime
from shared.auth import TokenVerifier
from shared.core.checkpoints import CheckpointSigner
from shared.db import build_engine
from shared.keys import KmsSigner, load_trusted_keys
from shared.limits import Limits
from shared.publisher import GcsCheckpointPublisher
from shared.service import Registry
from shared.settings import Settings
from tools.chaos_fakes import session_for
from tools.devserver import HOST, build_app, run_checkpoint_timer, sweep_interval


def build_registry(settings: Settings, kms: str, gcs: str) -> Registry:
    """``Registry.from_settings``, with the KMS signer and GCS publisher on the fakes."""
    if settings.kms_key_version is None or settings.checkpoint_bucket is None:
        raise SystemExit("the chaos server needs KMS_KEY_VERSION and CHECKPOINT_BUCKET")
    signer = KmsSigner(
        settings.kms_key_version, session_for(kms), deadline_s=settings.google_api_timeout_s
    )
    if settings.checkpoint_kms_key_version is None:
        raise SystemExit("the chaos server needs CHECKPOINT_KMS_KEY_VERSION")
    checkpoint_kms = KmsSigner(
        settings.checkpoint_kms_key_version,
        session_for(kms),
        deadline_s=settings.google_api_timeout_s,
    )
    checkpoint_key = CheckpointSigner(
        settings.effective_log_origin, checkpoint_kms.public_key, checkpoint_kms.sign
    )
    publisher = GcsCheckpointPublisher(
        settings.checkpoint_bucket, session_for(gcs), deadline_s=settings.google_api_timeout_s
    )
    return Registry(
        build_engine(settings),
        signer,
        load_trusted_keys(settings, signer),
        publisher,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_max_age=settings.checkpoint_max_age,
        limits=Limits.from_settings(settings),
        max_log_page_bytes=settings.max_log_page_bytes,
        idempotency_retention_hours=settings.idempotency_retention_hours,
        checkpoint_key=checkpoint_key,
    )


def _stop_with(parent: int, server: Any) -> None:
    """Shut the server down once ``parent`` (make chaos) is gone, however it ended."""
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kms", required=True, help="base URL of the fake Cloud KMS")
    parser.add_argument("--gcs", required=True, help="base URL of the fake Cloud Storage")
    parser.add_argument("--parent", type=int, help="stop when this process is gone")
    args = parser.parse_args()
    settings = Settings.from_env(os.environ)
    settings.require_service()
    runtime.install(
        runtime.Runtime(
            settings=settings,
            registry=build_registry(settings, args.kms, args.gcs),
            tokens=TokenVerifier.from_settings(settings),
        )
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(HOST, settings.port, build_app(), threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.parent is not None:
        threading.Thread(target=_stop_with, args=(args.parent, server), daemon=True).start()
    print(f"ready {server.port}", flush=True)
    # The checkpoint sweep on a timer, as make run runs it (Cloud Scheduler's job when
    # deployed): it signs overdue checkpoints and retries publications left in the outbox.
    stopping = threading.Event()
    run_checkpoint_timer(stopping, sweep_interval(settings))
    try:
        server.serve_forever()
    finally:
        stopping.set()
        server.server_close()
        registry = runtime.current().registry
        if isinstance(registry, Registry):  # the runtime holds it as the RegistryAPI
            registry.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
