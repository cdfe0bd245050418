from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.core.canonical import canonicalize
from shared.core.checkpoints import Checkpoint, sign_checkpoint
from shared.core.errors import StorageError
from shared.core.hashing import sha256
from shared.core.signing import LocalSigner
from shared.core.verification import verify_checkpoint
from shared.publisher import (
    DirectoryCheckpointPublisher,
    GcsCheckpointPublisher,
    NullPublisher,
    build_publisher,
)
from shared.settings import Settings


@pytest.fixture
def checkpoint(now: datetime, ed25519_signer: LocalSigner) -> Checkpoint:
    return sign_checkpoint(
        tenant_id="acme",
        tree_size=7,
        root_hash=sha256(b"r"),
        chain_head=sha256(b"h"),
        created_at=now,
        signer=ed25519_signer,
    )


def _other(checkpoint: Checkpoint, ed25519_signer: LocalSigner) -> Checkpoint:
    return sign_checkpoint(
        tenant_id="acme",
        tree_size=7,
        root_hash=sha256(b"forked"),
        chain_head=sha256(b"h"),
        created_at=checkpoint.created_at,
        signer=ed25519_signer,
    )


def test_directory_publisher_layout(
    tmp_path: Path, checkpoint: Checkpoint, ed25519_signer: LocalSigner
) -> None:
    DirectoryCheckpointPublisher(tmp_path).publish(checkpoint)
    path = tmp_path / "checkpoints" / "acme" / "00000000000000000007.json"
    document = json.loads(path.read_bytes())
    restored = Checkpoint.from_dict(document)
    assert restored == checkpoint
    verify_checkpoint(restored, {ed25519_signer.key_id: ed25519_signer.public_key})


def test_directory_publisher_is_write_once(
    tmp_path: Path, checkpoint: Checkpoint, ed25519_signer: LocalSigner
) -> None:
    publisher = DirectoryCheckpointPublisher(tmp_path)
    publisher.publish(checkpoint)
    publisher.publish(checkpoint)  # the same checkpoint again is fine
    with pytest.raises(StorageError, match="different checkpoint"):
        publisher.publish(_other(checkpoint, ed25519_signer))


def test_directory_publisher_storage_failure(tmp_path: Path, checkpoint: Checkpoint) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError) as info:
        DirectoryCheckpointPublisher(blocker).publish(checkpoint)
    assert isinstance(info.value.__cause__, OSError)


@dataclass
class FakeResponse:
    status_code: int
    content: bytes = b""


@dataclass
class FakeGcs:
    """In-memory GCS JSON API: media uploads honouring ifGenerationMatch=0."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_with: Exception | None = None
    status: int | None = None

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append(("POST", url))
        if self.fail_with:
            raise self.fail_with
        if self.status:
            return FakeResponse(self.status)
        parsed = urllib.parse.urlsplit(url)
        prefix = "/upload/storage/v1/b/"
        assert parsed.path.startswith(prefix)
        assert parsed.path.endswith("/o")
        bucket = urllib.parse.unquote(parsed.path[len(prefix) : -2])
        query = urllib.parse.parse_qs(parsed.query)
        assert query["uploadType"] == ["media"]
        assert kwargs["headers"]["Content-Type"] == "application/json"
        key = (bucket, query["name"][0])
        # Only the latest.json pointer may be replaced; every other object is write-once.
        assert ("ifGenerationMatch" in query) != key[1].endswith("/latest.json")
        if key in self.objects and query.get("ifGenerationMatch") == ["0"]:
            return FakeResponse(412)
        self.objects[key] = kwargs["data"]
        return FakeResponse(200)

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append(("GET", url))
        parsed = urllib.parse.urlsplit(url)
        bucket, _, name = parsed.path[len("/storage/v1/b/") :].partition("/o/")
        data = self.objects.get((bucket, urllib.parse.unquote(name)))
        return FakeResponse(200, data) if data is not None else FakeResponse(404)


def test_gcs_publisher_uploads_canonical_json(checkpoint: Checkpoint) -> None:
    fake = FakeGcs()
    GcsCheckpointPublisher("audit-bucket", session=fake).publish(checkpoint)
    stored = fake.objects[("audit-bucket", "checkpoints/acme/00000000000000000007.json")]
    assert stored == canonicalize(checkpoint.to_dict())
    assert Checkpoint.from_dict(json.loads(stored)) == checkpoint
    assert fake.calls[0][1].startswith("https://storage.googleapis.com/upload/storage/v1/b/")


def test_gcs_publisher_never_overwrites(
    checkpoint: Checkpoint, ed25519_signer: LocalSigner
) -> None:
    fake = FakeGcs()
    publisher = GcsCheckpointPublisher("audit-bucket", session=fake)
    publisher.publish(checkpoint)
    publisher.publish(checkpoint)  # retry of an upload that already landed
    with pytest.raises(StorageError, match="different checkpoint"):
        publisher.publish(_other(checkpoint, ed25519_signer))
    assert sorted(name for _, name in fake.objects) == [
        "checkpoints/acme/00000000000000000007.json",
        "checkpoints/acme/latest.json",
    ]
    assert publisher.latest("acme") == checkpoint  # the refused fork did not replace it


def _at(checkpoint: Checkpoint, size: int, signer: LocalSigner) -> Checkpoint:
    return sign_checkpoint(
        tenant_id=checkpoint.tenant_id,
        tree_size=size,
        root_hash=sha256(b"r%d" % size),
        chain_head=sha256(b"h"),
        created_at=checkpoint.created_at,
        signer=signer,
    )


@pytest.mark.parametrize("kind", ["directory", "gcs"])
def test_publishers_read_back_the_newest_and_one_at_a_size(
    kind: str, tmp_path: Path, checkpoint: Checkpoint, ed25519_signer: LocalSigner
) -> None:
    publisher: DirectoryCheckpointPublisher | GcsCheckpointPublisher = (
        DirectoryCheckpointPublisher(tmp_path)
        if kind == "directory"
        else GcsCheckpointPublisher("b", session=FakeGcs())
    )
    assert publisher.latest("acme") is None and publisher.at("acme", 7) is None
    publisher.publish(checkpoint)
    later = _at(checkpoint, 9, ed25519_signer)
    publisher.publish(later)
    publisher.publish(checkpoint)  # a late retry of an older one: the pointer stays
    assert publisher.latest("acme") == later
    assert publisher.at("acme", 7) == checkpoint
    assert publisher.at("acme", 8) is None
    assert publisher.latest("other") is None


def test_a_published_object_that_is_not_a_checkpoint_is_a_storage_error(
    tmp_path: Path, checkpoint: Checkpoint
) -> None:
    publisher = DirectoryCheckpointPublisher(tmp_path)
    publisher.publish(checkpoint)
    (tmp_path / "checkpoints" / "acme" / "latest.json").write_text('{"tree_size": "x"}')
    with pytest.raises(StorageError, match="is not a checkpoint"):
        publisher.latest("acme")


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_gcs_publisher_http_errors(checkpoint: Checkpoint, status: int) -> None:
    with pytest.raises(StorageError, match=f"HTTP {status}"):
        GcsCheckpointPublisher("b", session=FakeGcs(status=status)).publish(checkpoint)


def test_gcs_publisher_transport_errors(checkpoint: Checkpoint) -> None:
    exc = ConnectionError("down")
    with pytest.raises(StorageError) as info:
        GcsCheckpointPublisher("b", session=FakeGcs(fail_with=exc)).publish(checkpoint)
    assert info.value.__cause__ is exc


def test_null_publisher_and_build(checkpoint: Checkpoint, tmp_path: Path) -> None:
    NullPublisher().publish(checkpoint)
    assert NullPublisher().latest("acme") is None
    assert NullPublisher().at("acme", 7) is None
    assert isinstance(build_publisher(Settings()), NullPublisher)
    local = build_publisher(Settings(checkpoint_dir=tmp_path))
    assert isinstance(local, DirectoryCheckpointPublisher) and local.path == tmp_path
    publisher = build_publisher(Settings(checkpoint_bucket="audit-bucket"))
    assert isinstance(publisher, GcsCheckpointPublisher)
    assert publisher.bucket == "audit-bucket"
