"""How the database layer's failures become the registry's errors, in one place.

Nothing the database layer raises may leave the repository as anything but a
``RegistryError``: a unique violation on the chain position is a lost append race
(``ConflictError``), a data exception is input that slipped past the parsers
(``InputError``), and a timed-out wait, a server that cannot serve, a pool with no
connection or a broken line is a ``StorageError`` (503 with Retry-After). pg8000 raises
some transport failures raw (``ConnectionResetError`` at a ping, a ``struct.error`` on a
short read); those are outages, not bugs.

Example::

    with translate_errors():
        conn.execute(statement)   # any failure: a RegistryError, the cause chained
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from shared.core.errors import ConflictError, InputError, RegistryError, StorageError
from shared.db import is_transport_error

# Unique violations that mean "somebody appended first": the chain position or the
# successor slot was taken. Without the advisory lock these are what stops a fork.
_APPEND_RACE_CONSTRAINTS = {
    "pk_entity_versions",
    "uq_entity_versions_tenant_id_entity_id_supersedes",
    "uq_entity_versions_tenant_id_entity_id_version",
}


def _sqlstate(exc: sa_exc.DBAPIError) -> tuple[str | None, str | None]:
    """(SQLSTATE, constraint name) from a pg8000 error, when it carries them."""
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], Mapping):
        return args[0].get("C"), args[0].get("n")
    return None, None


# SQLSTATEs of a wait or statement that hit its bound, or of a session the server ended:
# lock_not_available (lock_timeout), query_canceled (statement_timeout),
# idle_in_transaction_session_timeout, serialization and deadlock failures.
_TIMED_OUT = {"55P03": "a lock wait", "57014": "a statement", "25P03": "an idle transaction"}
_RETRYABLE = {"40001", "40P01"}
# SQLSTATE classes of a server that cannot serve now: connection exceptions, operator
# intervention (shutdown, crash recovery, cannot connect now), insufficient resources.
_UNAVAILABLE = ("08", "57", "53")


def _raw_sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of an error pg8000 raised itself (not wrapped by SQLAlchemy).

    The whole cause chain is searched: a refused login can surface as the broken pipe
    pg8000 met while closing the socket, with the server's FATAL error as its context.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        details = current.args[0] if current.args else None
        if type(current).__module__.startswith("pg8000") and isinstance(details, Mapping):
            code = details.get("C")
            if isinstance(code, str):
                return code
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver, pool and network failures into the registry's errors.

    Nothing that the database layer raises may escape as anything but a RegistryError:
    pg8000 raises some transport failures raw (``ConnectionResetError`` at a ping, a
    ``struct.error`` on a short read), and those are outages, not bugs.
    """
    try:
        yield
    except RegistryError:
        raise
    except sa_exc.IntegrityError as exc:
        code, constraint = _sqlstate(exc)
        if code == "23505" and constraint in _APPEND_RACE_CONSTRAINTS:
            raise ConflictError(
                "a concurrent write to this tenant's log won; retry the request",
                constraint=constraint,
            ) from exc
        raise StorageError("the database refused the write", sqlstate=code) from exc
    except sa_exc.TimeoutError as exc:
        raise StorageError("no database connection available; retry shortly") from exc
    except sa_exc.DBAPIError as exc:
        code, _ = _sqlstate(exc)
        if code is not None and code.startswith("22"):
            # A data exception (a number the column cannot hold, say) is the caller's
            # input that slipped past validation, not an outage.
            raise InputError("a value in the request is out of range", sqlstate=code) from exc
        if code in _TIMED_OUT:
            raise StorageError(
                f"{_TIMED_OUT[code]} took longer than its timeout; nothing was written",
                sqlstate=code,
            ) from exc
        if code in _RETRYABLE:
            raise StorageError("the database asked for a retry", sqlstate=code) from exc
        if exc.connection_invalidated or code is None or code.startswith(_UNAVAILABLE):
            raise StorageError("the database is unavailable; retry shortly", sqlstate=code) from exc
        raise StorageError("the database rejected the operation", sqlstate=code) from exc
    except (sa_exc.DisconnectionError, sa_exc.PendingRollbackError) as exc:
        raise StorageError("the database connection was lost; retry shortly") from exc
    except Exception as exc:
        code = _raw_sqlstate(exc)
        if code is not None and code.startswith(_UNAVAILABLE):
            # The pool opens connections outside SQLAlchemy's wrapping, so a login the
            # server refuses (starting up or recovering after a crash, shutting down,
            # too many connections) arrives as pg8000's own error.
            raise StorageError("the database is unavailable; retry shortly", sqlstate=code) from exc
        if is_transport_error(exc):
            raise StorageError("the database connection failed; retry shortly") from exc
        raise
