"""Plant Registry's client library and the ``plant`` command-line tool.

The library needs only what the registry's core needs (``cryptography``, ``rfc8785``);
the command line adds ``click``, ``rich`` and ``platformdirs``
(``pip install 'plant-registry[cli]'``).

Example::

    from plant import Client, EvidenceError

    client = Client("http://127.0.0.1:8080", token=token)
    record = client.create("Industry", {"name": "Energy", "description": "Power"})
    try:
        print(client.verify(record.entity_id).summary)
    except EvidenceError as failure:
        print("does not verify:", failure.one_line())
"""

from __future__ import annotations

from plant.client import Client, RetryPolicy, Verification
from plant.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    ConflictError,
    EvidenceError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PlantError,
    ServerError,
    TransportError,
    ValidationError,
    VersionConflictError,
)

__all__ = [
    "ApiError",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConflictError",
    "EvidenceError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlantError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "ValidationError",
    "Verification",
    "VersionConflictError",
]
