"""Benchmark the live infusion session: observations recorded through the API, and their delivery
on an open Server-Sent Events stream, on SQLite and on PostgreSQL.

Run it from the repository root::

    .venv/bin/python bench/session_bench.py                      # 8 chairs, 20 s, SQLite then PostgreSQL
    .venv/bin/python bench/session_bench.py --chairs 16 --seconds 30 --db postgres
    .venv/bin/python bench/session_bench.py --quick --db sqlite  # 2 chairs, 3 s (the smoke test)

For each database the bench
---------------------------
1. prepares a fresh database: SQLite in a new temporary ``KETACLINIC_DATA_DIR``; PostgreSQL as the
   database ``ketaclinic_bench`` (or ``--postgres-url``), dropped and created again;
2. migrates it and creates, through the real actions (``patients``, ``protocols`` and
   ``infusions.actions``, the same calls the pages make), a clinic, its staff, a nurse's API token
   and signed-in browser session, and one patient per chair: registered, weighed, intake taken,
   screening signed, consent recorded, plan and IV order signed and double-checked, session
   scheduled, checked in, escort confirmed, pre-dose vitals, pre-dose done, infusion started. So
   every chair is in the ``dosing`` state, as on a busy afternoon;
3. starts the real server (``ketaclinic serve``: uvicorn, one process) as a subprocess;
4. opens the clinic's floor stream (``/infusions/floor/stream/``: every chair's events, as the floor
   board shows them) with the nurse's browser session;
5. runs N chair clients, one thread each with its own keep-alive connection, for S seconds. Each
   POSTs vital signs to ``/api/infusions/{id}/observations`` with a fresh idempotency key, waits for
   the answer, and posts again at once (no think time: this is the ceiling, not a clinic's load,
   which is one observation per chair every few minutes). A request that fails in transport is
   retried with the *same* key, as a real client would;
6. waits until every acknowledged observation has arrived on the stream (at most 15 s), then reads
   back from the database how many observations the run stored and when each event row was written.

What is measured
----------------
- **throughput**: observations acknowledged (201) per second of the run, all chairs together;
- **POST latency**: from just before the client sends the request to the moment it has read the
  201, per observation (client clock, ``time.perf_counter``);
- **commit -> stream**: for each observation, the time its event arrived on the open floor stream
  (the client has parsed the whole SSE event; wall clock) minus the floor event row's ``created_at``.
  The action publishes last in its transaction and the floor event is its last row, so
  ``created_at`` is stamped just before that row's INSERT (and, on PostgreSQL, the ``pg_notify``),
  after which ``COMMIT`` follows at once. The figure is therefore an upper bound of
  commit-to-delivery that also contains the ``COMMIT`` itself (a WAL append on SQLite with
  ``synchronous=NORMAL``; a WAL flush on PostgreSQL). Server and client run on the same machine,
  so both timestamps come from the same clock;
- **answer -> stream**: arrival on the stream minus the moment the posting chair had read its 201
  (both client side). Negative means the stream delivered the event before the poster saw its
  answer: both are sent after the commit.

The server, the clients and the database share the machine's cores, so the figures describe this
setup on this machine only; the bench prints the load average before and after each database.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/ketaclinic_bench"
DELIVERY_WAIT_S = 15.0
SERVER_START_S = 90.0


# --- inside the prepared environment (run as a subprocess of the bench) ---------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    import django

    django.setup()


def setup_world(chairs: int) -> dict[str, Any]:
    """Migrate, then create a clinic with ``chairs`` sessions in the dosing state. Returns what the
    clients need: session ids, the nurse's token and browser session, the floor channel's last id."""
    _django()
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)

    from ketaclinic.accounts import actions as accounts
    from ketaclinic.accounts.models import Clinic, Membership, User
    from ketaclinic.events.bus import channel_for_floor
    from ketaclinic.events.models import Event
    from ketaclinic.patients import actions as patients
    from ketaclinic.protocols import actions as protocols

    clinic = Clinic.objects.create(name="Bench Clinic", slug="bench", time_zone="America/New_York")

    def user(name: str, role: str) -> Any:
        u = User.objects.create_user(username=name, password=uuid.uuid4().hex, first_name=name.title())
        Membership.objects.create(user=u, clinic=clinic, role=role)
        return u

    admin, prescriber, nurse = user("ada", "admin"), user("priya", "prescriber"), user("nate", "nurse")
    text = patients.create_consent_text(
        user=admin,
        clinic=clinic,
        title="Ketamine treatment consent",
        version="1",
        body="Bench consent text.",
        effective_from=timezone.localdate() - timedelta(days=30),
    )
    protocols.ensure_products()
    protocols.create_default_library(admin, clinic)
    protocol = protocols.copy_protocol(admin, clinic, source_template="iv-racemic-depression", name="IV")
    staff = {"admin": admin, "prescriber": prescriber, "nurse": nurse}
    sessions = [_chair_in_dosing(n, clinic, staff, text, protocol) for n in range(chairs)]
    _, token = accounts.create_token(Membership.objects.get(user=nurse), "session bench")
    store = SessionStore()
    store[SESSION_KEY] = str(nurse.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = nurse.get_session_auth_hash()
    store.create()
    floor = channel_for_floor(clinic.pk)
    last = Event.objects.filter(channel=floor).order_by("-id").values_list("id", flat=True).first()
    return {
        "sessions": sessions,
        "token": token,
        "cookie": store.session_key,
        "floor": floor,
        "last_event": last,
    }


def _chair_in_dosing(n: int, clinic: Any, staff: dict[str, Any], text: Any, protocol: Any) -> int:
    """One patient taken through every step to a started IV infusion, by the real actions."""
    from datetime import date, timedelta

    from django.utils import timezone

    from ketaclinic import demo
    from ketaclinic.patients import actions as patients
    from ketaclinic.patients import intake_actions

    prescriber, nurse = staff["prescriber"], staff["nurse"]
    vitals = {"systolic_mmhg": 126, "diastolic_mmhg": 80, "heart_rate_bpm": 72, "spo2_pct": 98}
    patient = patients.register_patient(
        user=nurse,
        clinic=clinic,
        data={
            "mrn": f"B-{n + 1:04d}",
            "given_name": "Chair",
            "family_name": f"Patient {n + 1}",
            "date_of_birth": date(1980, 1, 1) + timedelta(days=97 * n),
            "sex": "female" if n % 2 else "male",
            "indications": ["trd"],
            "escort_name": "Escort",
            "height": "172",
            "height_unit": "cm",
            "pregnancy_status": "not_applicable" if n % 2 == 0 else "not_pregnant",
            "weight": str(60 + n % 30),
            "weight_unit": "kg",
        },
    )
    intake_actions.save_intake(
        user=nurse,
        clinic=clinic,
        patient=patient,
        data={"history": {}, "medications": [], "dast10_answers": [False] * 10},
    )
    findings = intake_actions.evaluate_current(patient, user=prescriber, clinic=clinic)
    intake_actions.sign_screening(
        user=prescriber,
        clinic=clinic,
        patient=patient,
        decision="eligible",
        item_reasons={
            f.code: "Reviewed." for f in findings if f.severity in ("absolute", "review", "interaction")
        },
        reason="Bench patient.",
    )
    patients.record_consent(
        user=nurse,
        clinic=clinic,
        patient=patient,
        text=text,
        signed_by_name=f"Chair Patient {n + 1}",
        signed_at=timezone.now(),
        witness=prescriber,
    )
    order = demo.signed_iv_order(prescriber, clinic, patient, protocol, baseline_score="30")
    demo.double_check(nurse, clinic, order)
    order.refresh_from_db()
    session = demo.check_in(nurse, nurse, clinic, order, chair=f"Chair {n + 1}", at=timezone.now())
    demo.start_infusion(nurse, clinic, session, vitals)
    return int(session.pk)


def collect(floor: str, after: int, key_prefix: str) -> dict[str, Any]:
    """What the run left in the database: observations stored with its keys, event rows' times."""
    _django()
    from ketaclinic.events.models import Event
    from ketaclinic.infusions.models import Observation

    stored = Observation.objects.filter(idempotency_key__startswith=key_prefix)
    created = Event.objects.filter(channel=floor, id__gt=after, type="observation").values_list(
        "id", "created_at"
    )
    return {
        "stored": stored.count(),
        "created_at": {str(pk): at.timestamp() for pk, at in created},
    }


# --- the harness ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_env(env: dict[str, str], *args: str) -> Any:
    """Run this script's hidden subcommand in ``env`` and return its JSON answer."""
    done = subprocess.run(  # noqa: S603 - this very script, with our own arguments
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _recreate_postgres(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"--postgres-url must name a plain database, got {name!r}")
    admin = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "dbname": "postgres",
    }
    if parts.password:
        admin["password"] = urllib.parse.unquote(parts.password)
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_postgres(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    admin = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "dbname": "postgres",
    }
    if parts.password:
        admin["password"] = urllib.parse.unquote(parts.password)
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


class Server:
    """``ketaclinic serve`` in a subprocess, its output in a log file."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the server did not start:\n{log.read_text()[-4000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class FloorStream(threading.Thread):
    """The floor board's EventSource: records when each observation's event was fully read."""

    def __init__(self, port: int, cookie: str, last_event_id: int) -> None:
        super().__init__(name="floor-stream", daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Cookie": f"sessionid={cookie}", "Accept": "text/event-stream"}
        headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/infusions/floor/stream/", headers=headers)
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"floor stream answered {self.response.status}")
        # observation id -> (arrival wall time, event id)
        self.arrivals: dict[int, tuple[float, int]] = {}
        self.lock = threading.Lock()
        self.stopping = False

    def run(self) -> None:
        event: dict[str, str] = {}
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\n")
                if line == "":
                    if event.get("event") == "observation" and "id" in event:
                        arrived = time.time()
                        obs = json.loads(event["data"])["observation"]
                        with self.lock:
                            self.arrivals.setdefault(int(obs["id"]), (arrived, int(event["id"])))
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    event[name] = value
        except Exception:
            # Closing the socket from the main thread ends the read in whichever way http.client fails.
            if not self.stopping:
                raise

    def close(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


@dataclass
class Ack:
    observation_id: int
    latency_s: float
    answered_at: float  # wall clock, when the 201 had been read


@dataclass
class ChairResult:
    acks: list[Ack] = field(default_factory=list)
    replays: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def chair(
    port: int, token: str, session_id: int, prefix: str, stop_at: float, *, out: ChairResult, limit: int = 0
) -> None:
    """One chair's client: post vitals until ``stop_at`` (or ``limit`` posts); a transport failure is
    retried with the same idempotency key."""
    rng = random.Random(session_id)  # noqa: S311  (test data, not security)
    path = f"/api/infusions/{session_id}/observations"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while time.perf_counter() < stop_at and not (limit and n >= limit):
        n += 1
        body = json.dumps(
            {
                "kind": "vitals",
                "idempotency_key": f"{prefix}{session_id}-{n}",
                "systolic_mmhg": rng.randint(112, 132),
                "diastolic_mmhg": rng.randint(70, 84),
                "heart_rate_bpm": rng.randint(62, 88),
                "spo2_pct": rng.randint(96, 99),
                "resp_rate_per_min": rng.randint(12, 18),
                "source": "device",
                "device_id": f"bench-monitor-{session_id}",
            }
        )
        for attempt in range(3):
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                out.retries += 1
                if attempt == 2:
                    out.errors.append(f"transport: {exc!r}")
                continue
            latency = time.perf_counter() - started
            if resp.status in (200, 201):
                answer = json.loads(data)
                out.acks.append(Ack(int(answer["observation"]["id"]), latency, time.time()))
                out.replays += resp.status == 200
            else:
                out.errors.append(f"{resp.status}: {data[:200]!r}")
            break
    conn.close()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _as_production(env: dict[str, str]) -> dict[str, str]:
    """PostgreSQL as production serves it: the application's own role, migrated and granted by the
    owner (``ketaclinic db roles``, docs/operations.md); serve refuses a superuser."""
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return env
    _owner, _, rest = url.partition("://")[2].partition("@")
    return env | {
        "DATABASE_URL": f"postgres://ketaclinic_bench_app@{rest}",
        "KETACLINIC_MIGRATE_DATABASE_URL": url,
    }


def run_database(db: str, args: argparse.Namespace) -> dict[str, Any]:  # noqa: PLR0915 - one story
    tmp = Path(tempfile.mkdtemp(prefix=f"ketaclinic-bench-{db}-"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["KETACLINIC_DATA_DIR"] = str(tmp / "data")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    if db == "postgres":
        _recreate_postgres(args.postgres_url)
        env["DATABASE_URL"] = args.postgres_url
    load_before = os.getloadavg()
    server: Server | None = None
    stream: FloorStream | None = None
    try:
        t0 = time.perf_counter()
        world = _in_env(env, "--_setup", str(args.chairs))
        setup_s = time.perf_counter() - t0
        port = args.port or _free_port()
        server = Server(_as_production(env), port, tmp / "server.log")
        stream = FloorStream(port, world["cookie"], world["last_event"] or 0)
        stream.start()

        prefix = f"bench-{uuid.uuid4().hex[:8]}-"
        results = [ChairResult() for _ in world["sessions"]]
        # One warm-up observation per chair (not counted): connections, caches, the first queries.
        warm = [ChairResult() for _ in world["sessions"]]
        for sid, res in zip(world["sessions"], warm, strict=True):
            chair(port, world["token"], sid, f"warm-{prefix}", math.inf, out=res, limit=1)
        started = time.perf_counter()
        stop_at = started + args.seconds
        threads = [
            threading.Thread(
                target=chair,
                args=(port, world["token"], sid, prefix, stop_at),
                kwargs={"out": res},
                daemon=True,
            )
            for sid, res in zip(world["sessions"], results, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        acks = [a for r in results for a in r.acks]
        wanted = {a.observation_id for a in acks}
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while time.monotonic() < deadline:
            with stream.lock:
                if wanted <= stream.arrivals.keys():
                    break
            time.sleep(0.05)
        with stream.lock:
            arrivals = dict(stream.arrivals)
        stream.close()
        stream = None
        server.stop()
        server = None
        found = _in_env(env, "--_collect", world["floor"], str(world["last_event"] or 0), prefix)
    finally:
        if stream is not None:
            stream.close()
        if server is not None:
            server.stop()
    load_after = os.getloadavg()
    commit_to_stream, answer_to_stream = _delays(acks, arrivals, found["created_at"])
    latencies = [a.latency_s for a in acks]
    result = {
        "database": db,
        "chairs": args.chairs,
        "seconds": round(elapsed, 2),
        "setup_seconds": round(setup_s, 1),
        "acknowledged": len(acks),
        "replays": sum(r.replays for r in results),
        "retries": sum(r.retries for r in results),
        "errors": [e for r in results for e in r.errors][:20],
        "error_count": sum(len(r.errors) for r in results),
        "stored": found["stored"],
        "delivered": len(wanted & arrivals.keys()),
        "observations_per_s": round(len(acks) / elapsed, 1) if elapsed else 0.0,
        "post_ms": _stats(latencies),
        "commit_to_stream_ms": _stats(commit_to_stream),
        "answer_to_stream_ms": _stats(answer_to_stream),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in load_after],
    }
    if db == "postgres" and not args.keep:
        _drop_postgres(args.postgres_url)
    if args.keep:
        result["kept"] = str(tmp) if db == "sqlite" else args.postgres_url
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _delays(
    acks: list[Ack], arrivals: dict[int, tuple[float, int]], created_at: dict[str, float]
) -> tuple[list[float], list[float]]:
    """Per delivered observation: arrival minus its event row's created_at, and minus the poster's 201."""
    commit_to_stream, answer_to_stream = [], []
    for a in acks:
        if a.observation_id not in arrivals:
            continue
        arrived, event_id = arrivals[a.observation_id]
        answer_to_stream.append(arrived - a.answered_at)
        created = created_at.get(str(event_id))
        if created is not None:
            commit_to_stream.append(arrived - created)
    return commit_to_stream, answer_to_stream


def _stats(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
        "n": len(ms),
    }


def _fmt(stats: dict[str, float] | None) -> str:
    if stats is None:
        return "n/a"
    return f"p50 {stats['p50']:8.2f} ms   p99 {stats['p99']:8.2f} ms   max {stats['max']:8.2f} ms"


def report(r: dict[str, Any]) -> str:
    name = {"sqlite": "SQLite (WAL, synchronous=NORMAL)", "postgres": "PostgreSQL"}[r["database"]]
    lines = [
        f"== {name}",
        f"  throughput        {r['observations_per_s']:.1f} observations/s  ({r['acknowledged']} "
        f"acknowledged in {r['seconds']:.1f} s by {r['chairs']} chairs; {r['error_count']} errors, "
        f"{r['retries']} retries, {r['replays']} answered as replays)",
        f"  stored            {r['stored']} observations with the run's keys "
        f"({'equal to' if r['stored'] == r['acknowledged'] else 'NOT equal to'} the acknowledged count)",
        f"  POST latency      {_fmt(r['post_ms'])}   (send -> 201 read, per observation)",
        f"  delivered         {r['delivered']} of {r['acknowledged']} on the floor stream",
        f"  commit -> stream  {_fmt(r['commit_to_stream_ms'])}   (event row stamped in the transaction "
        "just before COMMIT -> event read from the stream)",
        f"  answer -> stream  {_fmt(r['answer_to_stream_ms'])}   (poster read its 201 -> event read from "
        "the stream; negative: stream first)",
        f"  load average      {' '.join(map(str, r['load_before']))} before, "
        f"{' '.join(map(str, r['load_after']))} after  (setup took {r['setup_seconds']} s)",
    ]
    if r["errors"]:
        lines.append("  first errors      " + "; ".join(r["errors"][:3]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chairs", type=int, default=8, help="concurrent chair clients (default 8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run (default 20)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument("--quick", action="store_true", help="2 chairs for 3 s (smoke test)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite folder / PostgreSQL database")
    parser.add_argument("--_setup", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_collect", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._setup is not None:
        print(json.dumps(setup_world(args._setup)))
        return 0
    if args._collect is not None:
        floor, after, prefix = args._collect
        print(json.dumps(collect(floor, int(after), prefix)))
        return 0
    if args.quick:
        args.chairs, args.seconds = 2, 3.0
    if args.chairs < 1 or args.seconds <= 0:
        parser.error("--chairs must be at least 1 and --seconds above 0")

    print(
        f"ketaclinic session bench: {args.chairs} chairs posting vitals for {args.seconds:g} s per database; "
        f"one floor SSE stream open\n{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (server, clients and database share them)",
        flush=True,
    )
    results = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        result = run_database(db, args)
        results.append(result)
        print(report(result), flush=True)
    if len(results) > 1:
        print("\n| database | obs/s | POST p50 / p99 ms | commit->stream p50 / p99 ms | delivered |")
        print("|---|---|---|---|---|")
        for r in results:
            post, cts = r["post_ms"] or {}, r["commit_to_stream_ms"] or {}
            print(
                f"| {r['database']} | {r['observations_per_s']} | {post.get('p50')} / {post.get('p99')} | "
                f"{cts.get('p50')} / {cts.get('p99')} | {r['delivered']}/{r['acknowledged']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    ok = all(
        r["acknowledged"] > 0
        and r["error_count"] == 0
        and r["stored"] == r["acknowledged"]
        and r["delivered"] == r["acknowledged"]
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
