"""The repository's wire: prepared statements and pipelined round trips over pg8000.

Waiting on the network is most of what a create or a get costs, and pg8000's DB-API
spends three round trips on every parameterised statement (Parse, Describe, then
Bind/Execute, each followed by a Sync and a wait), COMMIT included. A ``Session`` runs
the repository's statements on the same pooled pg8000 connection with its own protocol
plan instead:

- each statement is prepared once per connection (a named statement, its plan cached by
  the server) and afterwards costs a Bind/Execute;
- statements whose results are not needed yet (``BEGIN``, setting the tenant and the
  timeouts, writes whose failure would abort the transaction anyway) are queued and sent
  in the same write as the next statement whose result is needed, and ``COMMIT`` goes out
  with the last queued writes: one flush, one wait;
- a statement's first use on a connection is prepared in the same write as its first
  execution, so even a cold connection adds no round trip.

Every queued unit ends with its own Sync, so each has its own ReadyForQuery and pg8000's
message handling reads them one after another; inside ``BEGIN`` a Sync does not end the
transaction. If one unit fails, the server aborts the transaction, the rest fail with
"current transaction is aborted", and the first error is raised.

There is no ping when a connection leaves the pool. Instead, if the first write of a
transaction finds the connection dead, the connection is discarded and the same queued
statements are sent once more on a fresh one: nothing was committed on the dead one
(a transaction without COMMIT cannot have written anything), so the retry is safe. A
connection lost at COMMIT is reported as ``CommitOutcomeUnknownError``.

Example::

    with Session.begin(engine) as session:
        session.defer(_SET_TENANT, {"tenant": "acme"})
        row = session.execute(_GET_CURRENT, {"tenant": "acme", "entity_id": eid}).first()
        session.commit()
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import pg8000
import pg8000.converters
import pg8000.core
import pg8000.dbapi
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared.core.errors import CommitOutcomeUnknownError
from shared.db import is_transport_error

# The engine sets READ COMMITTED on every connection it opens (shared/db.py), which the
# append protocol relies on; BEGIN need not repeat it.
_BEGIN = "begin"
# Lowercase, as pg8000 sends it, so that tools matching the wire (tools/faultproxy.py)
# see the same bytes whichever path committed.
_COMMIT = "commit"
_ROLLBACK = "rollback"
# ``:name`` placeholders of sa.text, but not the ``::type`` casts.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_STATEMENTS_KEY = "registry.prepared_statements"
_names = itertools.count()


@dataclasses.dataclass(frozen=True)
class _Sql:
    """A ``:name`` statement rewritten for the extended protocol (``$1``, ``$2``, ...)."""

    text: str
    parameters: tuple[str, ...]


_converted: dict[str, _Sql] = {}


def _convert(sql: str) -> _Sql:
    found = _converted.get(sql)
    if found is None:
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        found = _Sql(_PLACEHOLDER.sub(number, sql), tuple(order))
        _converted[sql] = found
    return found


class Row(tuple[Any, ...]):
    """One result row: a tuple, with columns by name as attributes and in ``_mapping``."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: Mapping[str, int] = {}

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._names, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None


def _row_class(columns: Sequence[Mapping[str, Any]] | None) -> type[Row]:
    names = tuple(str(column["name"]) for column in columns or ())
    return type("Row", (Row,), {"__slots__": (), "_names": names, "_index": _positions(names)})


def _positions(names: tuple[str, ...]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for i, name in enumerate(names):
        positions.setdefault(name, i)
    return positions


class Result:
    """The rows of one statement, with the parts of SQLAlchemy's Result the repository uses."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def all(self) -> list[Row]:
        return list(self._rows)

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise (
                sa_exc.NoResultFound("expected one row")
                if not self._rows
                else (sa_exc.MultipleResultsFound("expected one row"))
            )
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


@dataclasses.dataclass
class _Prepared:
    name: bytes
    row_class: type[Row]
    input_funcs: list[Any]
    columns: list[dict[str, Any]] | None


@dataclasses.dataclass
class _Unit:
    """One queued piece of a pipeline: a simple query, or an execution of a statement."""

    sql: str  # the original text (a simple query, or a ``:name`` statement)
    params: Mapping[str, Any] | None  # None for a simple query
    result: Result | None = None


class Pending:
    """The result of a deferred statement, there once the session has flushed."""

    def __init__(self, unit: _Unit) -> None:
        self._unit = unit

    def result(self) -> Result:
        if self._unit.result is None:
            raise RuntimeError("the statement has not been sent yet")
        return self._unit.result


class Session:
    """One transaction on one pooled pg8000 connection, pipelined (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fairy: Any = None
        self._queue: list[_Unit] = []
        self._began = False  # BEGIN has been sent (the first flush happened)
        self._retried = False
        self._checkout()

    # --- connection ------------------------------------------------------------------

    def _checkout(self) -> None:
        self._fairy = self._engine.raw_connection()
        self._raw: Any = self._fairy.dbapi_connection
        statements = self._fairy.info.get(_STATEMENTS_KEY)
        if statements is None:
            statements = self._fairy.info[_STATEMENTS_KEY] = {}
        self._statements: dict[str, _Prepared] = statements

    def _discard(self) -> None:
        """Drop a connection that failed: the pool must never hand it out again."""
        if self._fairy is not None:
            with suppress(Exception):
                self._fairy.invalidate()
            with suppress(Exception):
                self._fairy.close()
            self._fairy = None

    def close(self) -> None:
        if self._fairy is not None:
            self._fairy.close()
            self._fairy = None

    @classmethod
    @contextmanager
    def begin(cls, engine: Engine) -> Iterator[Session]:
        """A transaction: rolled back on error or when the body did not commit."""
        session = cls(engine)
        try:
            session._queue.append(_Unit(_BEGIN, None))
            yield session
            if session._queue or session._in_transaction():
                session.rollback()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _in_transaction(self) -> bool:
        return self._fairy is not None and bool(self._raw._in_transaction)

    # --- statements ------------------------------------------------------------------

    def defer(self, statement: sa.TextClause | str, params: Mapping[str, Any]) -> Pending:
        """Queue a statement; it runs with the next flush, and any error surfaces there."""
        unit = _Unit(_text(statement), params)
        self._queue.append(unit)
        return Pending(unit)

    def flush(self) -> None:
        """Send everything queued now, in one round trip."""
        if self._queue:
            self._flush()

    def execute(
        self, statement: sa.TextClause | str, params: Mapping[str, Any] | None = None
    ) -> Result:
        """Run a statement (with everything queued before it) and return its rows."""
        unit = _Unit(_text(statement), params or {})
        self._queue.append(unit)
        self._flush()
        assert unit.result is not None
        return unit.result

    def scalar(
        self, statement: sa.TextClause | str, params: Mapping[str, Any] | None = None
    ) -> Any:
        return self.execute(statement, params).scalar()

    def commit(self) -> None:
        """Send what is queued and COMMIT, in one round trip.

        An error from a queued statement means the server rolled back (COMMIT answers
        ROLLBACK in an aborted transaction): nothing was written, and that error is
        raised. A connection lost on the way is ``CommitOutcomeUnknownError``.
        """
        commit = _Unit(_COMMIT, None)
        self._queue.append(commit)
        try:
            self._flush(committing=commit)
        except CommitOutcomeUnknownError:
            raise
        except Exception as exc:
            if is_transport_error(exc):
                raise CommitOutcomeUnknownError(
                    "the connection failed during COMMIT; the write may have been recorded"
                ) from exc
            raise

    def rollback(self) -> None:
        self._queue.clear()
        if self._in_transaction():
            try:
                self._raw.execute_simple(_ROLLBACK)
            except Exception:
                # A dead connection rolls back on the server by itself.
                self._discard()

    # --- the pipeline ----------------------------------------------------------------

    def _flush(self, committing: _Unit | None = None) -> None:
        units, self._queue = self._queue, []
        first = not self._began
        self._began = True
        try:
            self._send(units, committing)
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            self._discard()
            # Nothing of a transaction whose first write failed can have been committed:
            # send the same statements once more on a fresh connection.
            if not first or self._retried or committing is not None:
                raise
            self._retried = True
            self._checkout()
            self._send(units, committing)

    def _send(self, units: list[_Unit], committing: _Unit | None) -> None:
        raw = self._raw
        sock = raw._sock
        to_prepare: dict[str, _Unit] = {}
        for unit in units:
            if unit.params is not None and unit.sql not in self._statements:
                to_prepare.setdefault(unit.sql, unit)
        preparing: list[tuple[str, bytes, Any]] = []
        for sql in to_prepare:
            name = f"registry_{next(_names)}".encode("ascii") + pg8000.core.NULL_BYTE
            raw.send_PARSE(name, _convert(sql).text, ())
            raw.send_DESCRIBE_STATEMENT(name)
            pg8000.core._write(sock, pg8000.core.SYNC_MSG)
            preparing.append((sql, name, pg8000.core.Context(sql)))
        for unit in units:
            if unit.params is None:
                raw.send_QUERY(unit.sql)
            else:
                converted = _convert(unit.sql)
                values = [unit.params[name] for name in converted.parameters]
                name = (
                    self._statements[unit.sql].name
                    if unit.sql in self._statements
                    else next(n for s, n, _ in preparing if s == unit.sql)
                )
                raw.send_BIND(name, pg8000.converters.make_params(raw.py_types, values))
                raw.send_EXECUTE()
                pg8000.core._write(sock, pg8000.core.SYNC_MSG)
        pg8000.core._flush(sock)
        # Read every answer, in order, before raising: the connection must end in sync.
        first_error: BaseException | None = None
        for sql, name, context in preparing:
            try:
                raw.handle_messages(context)
                self._statements[sql] = _Prepared(
                    name, _row_class(context.columns), context.input_funcs, context.columns
                )
            except pg8000.dbapi.DatabaseError as exc:
                first_error = first_error or exc
        for unit in units:
            try:
                unit.result = self._read(unit)
            except pg8000.dbapi.DatabaseError as exc:
                first_error = first_error or self._wrap(exc, unit)
        if first_error is not None:
            raise first_error

    def _read(self, unit: _Unit) -> Result:
        raw = self._raw
        if unit.params is None:
            context = pg8000.core.Context(unit.sql)
            raw.handle_messages(context)
            return Result([], context.row_count)
        prepared = self._statements.get(unit.sql)
        if prepared is None:
            # Its Parse failed: drain the Bind's answer and report that failure instead.
            raw.handle_messages(pg8000.core.Context(unit.sql))
            return Result([], -1)
        context = pg8000.core.Context(
            unit.sql, columns=prepared.columns, input_funcs=prepared.input_funcs
        )
        raw.handle_messages(context)
        row_class = prepared.row_class
        return Result([row_class(row) for row in context.rows or ()], context.row_count)

    def _wrap(self, exc: BaseException, unit: _Unit) -> BaseException:
        """A server error as SQLAlchemy raises it, so one translation serves every path.

        pg8000's module-level API (what SQLAlchemy's dialect uses) raises IntegrityError
        for a unique violation and ProgrammingError for the rest; the core raises a plain
        DatabaseError, so the same classes are chosen here from the SQLSTATE.
        """
        message = exc.args[0] if exc.args else None
        code = message.get("C") if isinstance(message, Mapping) else None
        error_class = pg8000.IntegrityError if code == "23505" else pg8000.ProgrammingError
        original = error_class(*exc.args)
        wrapped: BaseException = sa_exc.DBAPIError.instance(
            unit.sql,
            unit.params,
            original,
            pg8000.Error,
            connection_invalidated=False,
            dialect=self._engine.dialect,
        )
        wrapped.__cause__ = original
        return wrapped


def _text(statement: sa.TextClause | str) -> str:
    return statement.text if isinstance(statement, sa.TextClause) else statement
