"""Publishing signed checkpoints outside the database, where a DBA cannot rewrite them.

Layout (GCS bucket or local directory): ``checkpoints/<tenant_id>/<tree_size:020d>.json``
holding the canonical JSON of ``Checkpoint.to_dict()``. Objects are written once: a
second publish of the same checkpoint is a no-op, a different checkpoint for the same
size is refused (that would be evidence of a forked log).

Example::

    publisher = build_publisher(settings)        # GCS when CHECKPOINT_BUCKET is set
    publisher.publish(checkpoint)
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path
from typing import Protocol

from shared.core.canonical import canonicalize
from shared.core.checkpoints import Checkpoint
from shared.core.errors import StorageError
from shared.google_http import HttpSession, authorized_session, call
from shared.settings import DEFAULT_GOOGLE_API_TIMEOUT_S, Settings

GCS_UPLOAD_API = "https://storage.googleapis.com/upload/storage/v1/b/"
GCS_API = "https://storage.googleapis.com/storage/v1/b/"
GCS_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


class CheckpointPublisher(Protocol):
    def publish(self, checkpoint: Checkpoint) -> None: ...


def object_name(checkpoint: Checkpoint) -> str:
    # Zero-padded sizes make a plain lexical listing come out in log order.
    return f"checkpoints/{checkpoint.tenant_id}/{checkpoint.tree_size:020d}.json"


def checkpoint_document(checkpoint: Checkpoint) -> bytes:
    """Canonical bytes, so republishing the same checkpoint yields identical objects."""
    return canonicalize(checkpoint.to_dict())


class NullPublisher:
    """Publishes nowhere (no CHECKPOINT_BUCKET configured)."""

    def publish(self, checkpoint: Checkpoint) -> None:
        return None


class DirectoryCheckpointPublisher:
    """Writes the bucket layout under a local directory, for development."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, checkpoint: Checkpoint) -> None:
        document = checkpoint_document(checkpoint)
        target = self.path / object_name(checkpoint)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if target.read_bytes() != document:
                    raise StorageError(
                        f"a different checkpoint is already published at {target}"
                    ) from None
                return
            with os.fdopen(fd, "wb") as handle:
                handle.write(document)
        except OSError as exc:
            raise StorageError(f"cannot publish checkpoint to {target}: {exc}") from exc


def _default_session() -> HttpSession:
    return authorized_session(GCS_SCOPE, StorageError, "GCS")


class GcsCheckpointPublisher:
    """Uploads checkpoints to a GCS bucket through the JSON API (write-once objects).

    Each call to GCS ends within ``deadline_s`` seconds (GOOGLE_API_TIMEOUT_S).
    """

    def __init__(
        self,
        bucket: str,
        session: HttpSession | None = None,
        *,
        deadline_s: float = DEFAULT_GOOGLE_API_TIMEOUT_S,
    ) -> None:
        self.bucket = bucket
        self.deadline_s = deadline_s
        self._session = session
        self._lock = threading.Lock()

    def _get_session(self) -> HttpSession:
        # Built on first use so merely configuring a bucket costs nothing at start-up.
        with self._lock:
            if self._session is None:
                self._session = _default_session()
            return self._session

    def publish(self, checkpoint: Checkpoint) -> None:
        session = self._get_session()
        name = object_name(checkpoint)
        document = checkpoint_document(checkpoint)
        bucket = urllib.parse.quote(self.bucket, safe="")
        query = urllib.parse.urlencode(
            {"uploadType": "media", "name": name, "ifGenerationMatch": "0"}
        )
        response = call(
            session,
            "post",
            f"{GCS_UPLOAD_API}{bucket}/o?{query}",
            deadline_s=self.deadline_s,
            error=StorageError,
            service="GCS checkpoint upload",
            data=document,
            headers={"Content-Type": "application/json"},
        )
        status = getattr(response, "status_code", None)
        if status == 412:
            # ifGenerationMatch=0 failed: the object exists. Identical bytes mean an
            # earlier attempt succeeded; anything else must not be papered over.
            self._check_existing(session, bucket, name, document)
            return
        if status is None or not 200 <= status < 300:
            raise StorageError(f"GCS answered HTTP {status} uploading {name}", status=status)

    def _check_existing(
        self, session: HttpSession, bucket: str, name: str, document: bytes
    ) -> None:
        url = f"{GCS_API}{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
        response = call(
            session,
            "get",
            url,
            deadline_s=self.deadline_s,
            error=StorageError,
            service="GCS checkpoint read",
        )
        if getattr(response, "status_code", None) != 200:
            raise StorageError(f"cannot read published checkpoint {name}")
        if response.content != document:
            raise StorageError(f"a different checkpoint is already published at {name}")


def build_publisher(settings: Settings) -> CheckpointPublisher:
    if settings.checkpoint_bucket:
        return GcsCheckpointPublisher(
            settings.checkpoint_bucket, deadline_s=settings.google_api_timeout_s
        )
    return NullPublisher()
