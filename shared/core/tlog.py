"""C2SP tlog-checkpoint note bodies: origin, tree size, root hash, optional extensions.

A checkpoint is the text of a signed note (``shared.core.note``)::

    registry.example.com/plant/acme
    10000
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

Example::

    body = TreeHead(tenant_origin("registry.example.com/plant", "acme"), 3, root)
    message = sign_note(body.text(), [log_signer])
    head = open_checkpoint(message, origin=body.origin, verifiers=[log_signer.verifier])
    assert head == body

Parsing is strict: exactly the spec's lines, a decimal size without leading zeros, a
canonical base64 32-byte root, non-empty extension lines. ``open_checkpoint`` also
insists on the origin it expects, because a validly signed checkpoint of *another* log
(another tenant, the same key) proves nothing about this one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Sequence

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import HASH_SIZE
from shared.core.note import NoteVerifier, OpenedNote, open_note, valid_key_name

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_TREE_SIZE = 2**63 - 1


def tenant_origin(log_origin: str, tenant_id: str) -> str:
    """One log per tenant: ``<LOG_ORIGIN>/<tenant_id>``, a valid note key name.

    The origin doubles as the log's note key name, which may not hold "+"; tenant ids may,
    so "+" is written ``%2B`` (ids never hold "%", so the mapping is one to one).
    """
    origin = f"{log_origin.rstrip('/')}/{tenant_id.replace('+', '%2B')}"
    if not valid_key_name(origin) or "/" in tenant_id:
        raise InputError(f"{origin!r} cannot be a log origin (spaces or '+')", path="$.origin")
    return origin


def origin_tenant(origin: str) -> str:
    """The tenant id a log origin names: its last path segment, ``%2B`` read as "+"."""
    return origin.rpartition("/")[2].replace("%2B", "+")


def _malformed(detail: str) -> VerificationError:
    return VerificationError(f"malformed checkpoint: {detail}", check="checkpoint")


@dataclasses.dataclass(frozen=True)
class TreeHead:
    """A checkpoint body: the log's origin, its size and the RFC 6962 root at that size."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise InputError("a checkpoint origin is one non-empty line", path="$.origin")
        if not 0 <= self.size <= MAX_TREE_SIZE or len(self.root_hash) != HASH_SIZE:
            raise InputError("a checkpoint needs a size >= 0 and a 32-byte root", path="$.size")
        if any(not line or "\n" in line for line in self.extensions):
            raise InputError("extension lines are single non-empty lines", path="$.extensions")

    def text(self) -> str:
        """The note text: each line ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def parse(cls, text: str) -> TreeHead:
        """Parse note text into a tree head; VerificationError(check="checkpoint")."""
        if not text.endswith("\n"):
            raise _malformed("the text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise _malformed("need origin, size and root on three non-empty lines")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
            raise _malformed(f"tree size {size[:30]!r} is not a decimal without leading zeros")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise _malformed("the root hash is not base64") from exc
        # Re-encoding catches non-canonical base64 (stray padding bits) that decodes anyway.
        if len(root_hash) != HASH_SIZE or base64.b64encode(root_hash).decode() != root:
            raise _malformed("the root hash is not 32 bytes of canonical base64")
        return cls(origin, int(size), root_hash, tuple(extensions))


def open_checkpoint(message: bytes, *, origin: str, verifiers: Sequence[NoteVerifier]) -> TreeHead:
    """Verify a signed checkpoint for ``origin`` and return its tree head."""
    return open_checkpoint_note(message, origin=origin, verifiers=verifiers)[0]


def open_checkpoint_note(
    message: bytes, *, origin: str, verifiers: Sequence[NoteVerifier]
) -> tuple[TreeHead, OpenedNote]:
    """Like ``open_checkpoint``, also returning the opened note (its signatures)."""
    note = open_note(message, verifiers)
    head = TreeHead.parse(note.text)
    if head.origin != origin:
        raise VerificationError(
            f"checkpoint is for log {head.origin!r}, not {origin!r}",
            check="checkpoint",
            expected=origin,
            found=head.origin,
        )
    return head, note
