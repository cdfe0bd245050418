"""Publishing signed checkpoints outside the database, where a DBA cannot rewrite them.

Layout (GCS bucket or local directory): ``checkpoints/<tenant_id>/<tree_size:020d>.json``
holding the canonical JSON of ``Checkpoint.to_dict()``. Objects are written once: a
second publish of the same checkpoint is a no-op, a different checkpoint for the same
size is refused (that would be evidence of a forked log). ``checkpoints/<tenant_id>/
latest.json`` points at the newest one (the same document; replaced only by a larger
tree), so finding the newest costs one read however many were published.

Publishers are read back too: before signing, the checkpointer compares the database
with the newest checkpoint published (``latest``) and the one published at a size
(``at``), so a database that was rolled back behind what left it is caught
(docs/adr/0008-checkpoint-signing.md). What a publisher returns is not trusted either:
the checkpointer verifies its signature.

Example::

    publisher = build_publisher(settings)        # GCS when CHECKPOINT_BUCKET is set
    publisher.publish(checkpoint)
    assert publisher.latest(checkpoint.tenant_id) == checkpoint
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path
from typing import Protocol

from shared.core.canonical import canonicalize, parse_json
from shared.core.checkpoints import Checkpoint
from shared.core.errors import InputError, StorageError
from shared.google_http import HttpSession, authorized_session, call
from shared.settings import DEFAULT_GOOGLE_API_TIMEOUT_S, Settings

GCS_UPLOAD_API = "https://storage.googleapis.com/upload/storage/v1/b/"
GCS_API = "https://storage.googleapis.com/storage/v1/b/"
GCS_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


class CheckpointPublisher(Protocol):
    def publish(self, checkpoint: Checkpoint) -> None: ...

    def latest(self, tenant_id: str) -> Checkpoint | None:
        """The newest checkpoint published for ``tenant_id`` (None: none yet)."""
        ...

    def at(self, tenant_id: str, tree_size: int) -> Checkpoint | None:
        """The checkpoint published for ``tenant_id`` at ``tree_size``, if any."""
        ...


def object_name(checkpoint: Checkpoint) -> str:
    return size_object_name(checkpoint.tenant_id, checkpoint.tree_size)


def size_object_name(tenant_id: str, tree_size: int) -> str:
    # Zero-padded sizes make a plain lexical listing come out in log order.
    return f"checkpoints/{tenant_id}/{tree_size:020d}.json"


def latest_object_name(tenant_id: str) -> str:
    return f"checkpoints/{tenant_id}/latest.json"


def checkpoint_document(checkpoint: Checkpoint) -> bytes:
    """Canonical bytes, so republishing the same checkpoint yields identical objects."""
    return canonicalize(checkpoint.to_dict())


def parse_document(document: bytes, name: str) -> Checkpoint:
    """A published object back as a checkpoint; StorageError if it is not one."""
    try:
        value = parse_json(document)
        if not isinstance(value, dict):
            raise InputError("not a JSON object")
        return Checkpoint.from_dict(value)
    except InputError as exc:
        raise StorageError(f"published object {name} is not a checkpoint: {exc.detail}") from exc


class NullPublisher:
    """Publishes nowhere (no CHECKPOINT_BUCKET configured), so it has nothing to read."""

    kind = "none"

    def publish(self, checkpoint: Checkpoint) -> None:
        return None

    def latest(self, tenant_id: str) -> Checkpoint | None:
        return None

    def at(self, tenant_id: str, tree_size: int) -> Checkpoint | None:
        return None


class DirectoryCheckpointPublisher:
    """Writes the bucket layout under a local directory: the dev stand-in for the bucket."""

    kind = "directory"

    def __init__(self, path: Path) -> None:
        self.path = path

    def latest(self, tenant_id: str) -> Checkpoint | None:
        return self._read(latest_object_name(tenant_id))

    def at(self, tenant_id: str, tree_size: int) -> Checkpoint | None:
        return self._read(size_object_name(tenant_id, tree_size))

    def _read(self, name: str) -> Checkpoint | None:
        try:
            document = (self.path / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read published checkpoint {name}: {exc}") from exc
        return parse_document(document, name)

    def publish(self, checkpoint: Checkpoint) -> None:
        self._publish_once(checkpoint)
        current = self.latest(checkpoint.tenant_id)
        if current is None or current.tree_size < checkpoint.tree_size:
            pointer = self.path / latest_object_name(checkpoint.tenant_id)
            staged = pointer.with_suffix(".tmp")
            try:
                staged.write_bytes(checkpoint_document(checkpoint))
                os.replace(staged, pointer)  # atomic: a reader sees the old or the new one
            except OSError as exc:
                raise StorageError(f"cannot publish checkpoint to {pointer}: {exc}") from exc

    def _publish_once(self, checkpoint: Checkpoint) -> None:
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

    kind = "bucket"

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

    def latest(self, tenant_id: str) -> Checkpoint | None:
        return self._read(self._get_session(), latest_object_name(tenant_id))

    def at(self, tenant_id: str, tree_size: int) -> Checkpoint | None:
        return self._read(self._get_session(), size_object_name(tenant_id, tree_size))

    def _read(self, session: HttpSession, name: str) -> Checkpoint | None:
        document = self._download(session, name)
        return parse_document(document, name) if document is not None else None

    def _download(self, session: HttpSession, name: str) -> bytes | None:
        bucket = urllib.parse.quote(self.bucket, safe="")
        url = f"{GCS_API}{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
        response = call(
            session,
            "get",
            url,
            deadline_s=self.deadline_s,
            error=StorageError,
            service="GCS checkpoint read",
        )
        status = getattr(response, "status_code", None)
        if status == 404:
            return None
        if status != 200:
            raise StorageError(f"GCS answered HTTP {status} reading {name}", status=status)
        return bytes(response.content)

    def publish(self, checkpoint: Checkpoint) -> None:
        session = self._get_session()
        self._upload(session, object_name(checkpoint), checkpoint_document(checkpoint), once=True)
        # The pointer is replaced only by a larger tree. Two publishers racing may leave
        # the smaller one for a while: that weakens the rollback check until the next
        # publish, and can never raise a false alarm (see the module docstring).
        current = self.latest(checkpoint.tenant_id)
        if current is None or current.tree_size < checkpoint.tree_size:
            self._upload(
                session,
                latest_object_name(checkpoint.tenant_id),
                checkpoint_document(checkpoint),
                once=False,
            )

    def _upload(self, session: HttpSession, name: str, document: bytes, *, once: bool) -> None:
        bucket = urllib.parse.quote(self.bucket, safe="")
        fields = {"uploadType": "media", "name": name}
        if once:
            fields["ifGenerationMatch"] = "0"
        query = urllib.parse.urlencode(fields)
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
        if status == 412 and once:
            # ifGenerationMatch=0 failed: the object exists. Identical bytes mean an
            # earlier attempt succeeded; anything else must not be papered over.
            existing = self._download(session, name)
            if existing is None:
                raise StorageError(f"cannot read published checkpoint {name}")
            if existing != document:
                raise StorageError(f"a different checkpoint is already published at {name}")
            return
        if status is None or not 200 <= status < 300:
            raise StorageError(f"GCS answered HTTP {status} uploading {name}", status=status)


def build_publisher(settings: Settings) -> CheckpointPublisher:
    """GCS with CHECKPOINT_BUCKET, a local directory with CHECKPOINT_DIR (``make run``
    sets it under REGISTRY_DATA_DIR), else nowhere."""
    if settings.checkpoint_bucket:
        return GcsCheckpointPublisher(
            settings.checkpoint_bucket, deadline_s=settings.google_api_timeout_s
        )
    if settings.checkpoint_dir is not None:
        return DirectoryCheckpointPublisher(settings.checkpoint_dir)
    return NullPublisher()
