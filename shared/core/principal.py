"""Who is calling: the authenticated subject, its tenant and its scopes.

Example::

    >>> principal = Principal(subject="svc-a", tenant_id="acme",
    ...                       scopes=frozenset({SCOPE_READ, SCOPE_WRITE}))
    >>> principal.require(SCOPE_WRITE)
    >>> principal.require(SCOPE_ADMIN)
    Traceback (most recent call last):
    ...
    shared.core.errors.PermissionDeniedError: this operation needs the registry:admin scope
"""

from __future__ import annotations

import dataclasses

from shared.core.errors import PermissionDeniedError

SCOPE_READ = "registry:read"
SCOPE_WRITE = "registry:write"
SCOPE_ADMIN = "registry:admin"
SCOPES = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN})


@dataclasses.dataclass(frozen=True)
class Principal:
    subject: str
    tenant_id: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDeniedError(
                f"this operation needs the {scope} scope", required_scope=scope
            )
