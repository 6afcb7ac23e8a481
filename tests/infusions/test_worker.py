"""The background worker, for real: alerts are raised and escalated with no page open.

``ketaclinic worker`` runs as a subprocess on a file database (SQLite in the data folder, or a fresh
PostgreSQL database on the PostgreSQL pass), with a dosing session whose vitals are overdue and an
alert left unacknowledged past the escalation time. No web server runs. The test polls the
database: the waits are failure bounds, not timing assertions. The scheduler and queue poll are
shortened through the environment so the test takes seconds.

``ketaclinic serve`` must start the worker as a child and leave no process behind when it is
stopped (SIGTERM) or killed (SIGKILL: the worker watches its parent).
"""

# The setup scripts run in a subprocess and keep their statements whole on one line.
# ruff: noqa: E501
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.events.test_sse_server import _free_port, run, server_env  # noqa: F401 (fixture)
from tests.pg_roles import serve_env

pytestmark = pytest.mark.slow

# The bound on every wait: generous, because the machine is shared; passing tests take seconds.
BOUND_S = 60

SETUP = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from datetime import date, timedelta
from django.utils import timezone
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert, Observation, Session
from ketaclinic.patients.models import Patient
from tests.infusions.conftest import VITALS, make_order, ready_for_dosing, scheduled

clinic = Clinic.objects.create(name="Northside", slug="northside", time_zone="America/New_York")
def user(name, role):
    u = User.objects.create_user(username=name, password="not used here 123")
    Membership.objects.create(user=u, clinic=clinic, role=role)
    return u
prescriber, nurse, admin, desk = user("pat", "prescriber"), user("nate", "nurse"), user("ada", "admin"), user("fred", "frontdesk")
patient = Patient.objects.create(clinic=clinic, mrn="A-1", given_name="Maria", family_name="Lopez",
                                 date_of_birth=date(1984, 3, 2), sex="female", height_cm=165, created_by=nurse)
order = make_order(clinic, prescriber, nurse, patient, admin)
session = ready_for_dosing(nurse, clinic, scheduled(desk, nurse, clinic, order))
actions.record_dosing_event(user=nurse, clinic=clinic, session=session, kind="start", idempotency_key="start")
actions.record_observation(user=nurse, clinic=clinic, session=session, kind="vitals", data=VITALS | {"systolic_mmhg": 190, "diastolic_mmhg": 100}, idempotency_key="high")
old = Alert.objects.get(session=session, code="bp_severe")
# Time has passed (another process cannot share a frozen clock): dosing began 30 min ago, the last
# vitals are as old (IV protocol: every 10 min, 5 min grace), and the alert has waited 30 min.
ago = timezone.now() - timedelta(minutes=30)
Session.objects.filter(pk=session.pk).update(state_changed_at=ago)
Observation.objects.filter(session=session).update(observed_at=ago)
Alert.objects.filter(session=session).update(raised_at=ago)
assert not Alert.objects.filter(session=session, code="overdue_vitals").exists()
print(json.dumps({"session": session.pk, "alert": old.pk, "clinic": clinic.pk}))
"""

WAIT = """
import json, os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from django_q.models import Task
from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions.models import Alert
session, alert, clinic, bound = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + bound
# Wait for everything checked below, not only the alerts: django-q2 writes a task's result row
# after the task returns, so the alerts can be there while the result is not yet.
while True:
    overdue = Alert.objects.filter(session_id=session, code="overdue_vitals").exists()
    escalated = Alert.objects.filter(pk=alert, escalated_at__isnull=False).exists()
    audited = AuditEntry.objects.filter(action="infusions.alert.escalate").exists()
    announced = Event.objects.filter(channel=f"floor:{clinic}", type="alert_escalated").exists()
    done = Task.objects.filter(func="ketaclinic.infusions.tasks.periodic_checks", success=True).exists()
    if (overdue and escalated and audited and announced and done) or time.monotonic() > deadline:
        break
    time.sleep(0.2)
a = Alert.objects.get(pk=alert)
print(json.dumps({
    "overdue": list(Alert.objects.filter(session_id=session, code="overdue_vitals").values_list("message", flat=True)),
    "escalated": a.escalated_at is not None,
    "acknowledged": a.acknowledged_at is not None,
    "audit": sorted(set(AuditEntry.objects.filter(action__in=["infusions.alert.overdue", "infusions.alert.escalate"]).values_list("action", flat=True))),
    "floor_events": sorted(set(Event.objects.filter(channel=f"floor:{clinic}").values_list("type", flat=True))),
    "tasks": list(Task.objects.filter(func="ketaclinic.infusions.tasks.periodic_checks").values_list("success", flat=True)),
}))
"""


def _proc_table():
    """pid -> (ppid, state) for every process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(pid):
    table = _proc_table()
    children = {}
    for child, (parent, _state) in table.items():
        children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def running(pids):
    """Those of ``pids`` still running (a zombie waiting for its reaper has stopped)."""
    table = _proc_table()
    return [p for p in pids if p in table and table[p][1] != "Z"]


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def wait_until_gone(pids, bound=BOUND_S):
    deadline = time.monotonic() + bound
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return running(pids)


# The worker tuned to look often, so that a test takes seconds.
TUNING = {
    "KETACLINIC_WORKER_SCHEDULER_SECONDS": "0.5",
    "KETACLINIC_QUEUE_POLL_SECONDS": "0.2",
    "KETACLINIC_WORKER_PROCESSES": "1",
    "KETACLINIC_ESCALATE_AFTER_MINUTES": "5",
}


@pytest.fixture
def worker_env(server_env):  # noqa: F811
    """A migrated database of the vendor under test (``serve`` migrates by itself; a worker does not)."""
    env = server_env | TUNING
    subprocess.run(
        [sys.executable, "-m", "ketaclinic.cli", "manage", "migrate", "-v", "0"],
        env=env,
        check=True,
        timeout=300,
    )
    return env


def start_worker(env, log_path):
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "ketaclinic.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that a failed test can kill the whole cluster
        )


def stop_worker(worker, log_path):
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(BOUND_S)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        pytest.fail(f"the worker did not stop on SIGTERM:\n{Path(log_path).read_text()}")


def start_serve(port, env, *extra):
    server = subprocess.Popen(
        [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=serve_env(env),
    )
    deadline = time.monotonic() + BOUND_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("server did not start")
            time.sleep(0.2)


def assert_checks_ran_with_no_page_open(env, tmp_path):
    made = json.loads(run(SETUP, env))
    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    try:
        started = time.monotonic()
        seen = json.loads(
            run(WAIT, env, str(made["session"]), str(made["alert"]), str(made["clinic"]), str(BOUND_S))
        )
        elapsed = time.monotonic() - started
        cluster = descendants(worker.pid)
    finally:
        code = stop_worker(worker, log_path)
    log = log_path.read_text()
    assert seen["overdue"], f"no overdue alert within {BOUND_S} s:\n{log}"
    assert "Vitals overdue" in seen["overdue"][0]
    assert len(seen["overdue"]) == 1  # one open alert per problem, however many runs
    assert seen["escalated"] and not seen["acknowledged"], log
    assert seen["audit"] == ["infusions.alert.escalate", "infusions.alert.overdue"]
    assert {"alert", "alert_escalated"} <= set(seen["floor_events"])
    assert seen["tasks"] and all(seen["tasks"]), "the checks ran as queued django-q2 tasks"
    assert code == 0 and "ketaclinic worker: stopped" in log
    assert cluster and not wait_until_gone(cluster), "the cluster's processes outlived the worker"
    return elapsed


def test_worker_raises_overdue_alerts_and_escalates_with_no_page_open(worker_env, tmp_path):
    elapsed = assert_checks_ran_with_no_page_open(worker_env, tmp_path)
    print(f"checks done {elapsed:.1f} s after the worker was started")


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):  # scripts/test installs it: in CI a skip would hide a missing install
            pytest.fail("redis-server is not installed (scripts/test installs it with apt-get)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis")
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_worker_on_a_redis_queue(worker_env, redis_url, tmp_path):
    assert_checks_ran_with_no_page_open(worker_env | {"KETACLINIC_QUEUE_REDIS_URL": redis_url}, tmp_path)


def test_worker_refuses_an_unmigrated_database(server_env):  # noqa: F811
    done = subprocess.run(
        [sys.executable, "-m", "ketaclinic.cli", "worker"],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "unapplied migration" in done.stderr and "ketaclinic manage migrate" in done.stderr


def _is_worker(command):
    return "ketaclinic.cli worker" in command or command.startswith("qcluster MainProcess")


def worker_processes(serve_pid):
    """The worker started by ``serve`` and its cluster (sentinel, task processes, pusher, monitor)."""
    procs = descendants(serve_pid)
    table = _proc_table()
    # django-q2 retitles its processes ("qcluster MainProcess ...") when setproctitle is installed.
    heads = [p for p in procs if table.get(p, (0,))[0] == serve_pid and _is_worker(cmdline(p))]
    return heads, procs


def wait_for_cluster(serve_pid):
    deadline = time.monotonic() + BOUND_S
    while True:
        heads, procs = worker_processes(serve_pid)
        # The worker, its sentinel, one task process, the pusher and the monitor.
        if len(heads) == 1 and len(procs) >= 5:
            return heads[0], procs
        if time.monotonic() > deadline:
            pytest.fail(f"serve did not start a worker cluster: {[cmdline(p) for p in procs]}")
        time.sleep(0.2)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_serve_starts_the_worker_and_leaves_no_orphan(server_env, how):  # noqa: F811
    port = _free_port()
    server = start_serve(port, server_env | TUNING)
    try:
        _head, cluster = wait_for_cluster(server.pid)
        assert server.poll() is None
        server.send_signal(how)
        server.wait(BOUND_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    # SIGTERM: serve stops the worker before it exits. SIGKILL: the worker sees its parent gone.
    left = wait_until_gone(cluster)
    assert not left, f"left running after {how.name}: {[cmdline(p) for p in left]}"
    if how == signal.SIGTERM:
        assert server.returncode == 0


def test_serve_no_worker_starts_none(server_env):  # noqa: F811
    port = _free_port()
    server = start_serve(port, server_env, "--no-worker")
    try:
        assert descendants(server.pid) == []
    finally:
        server.terminate()
        server.wait(BOUND_S)


# Transactional: django-q2's scheduler closes a connection found inside a transaction, as a test's is.
@pytest.mark.django_db(transaction=True)
def test_schedule_follows_the_settings_and_runs_once_a_minute_without_catching_up(settings):
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler

    from ketaclinic.infusions import tasks

    # Created after migrate (post_migrate), every minute by default; idempotent.
    schedule = Schedule.objects.get(name=tasks.CHECKS_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (tasks.CHECKS_FUNC, "I", 1)
    assert tasks.ensure_schedule() == (schedule, False)
    # The worker was down for an hour: one run now, the next a minute later, not sixty to catch up.
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(hours=1))
    before = OrmQ.objects.count()
    scheduler()
    assert OrmQ.objects.count() == before + 1
    schedule.refresh_from_db()
    assert timezone.now() < schedule.next_run <= timezone.now() + timedelta(minutes=1)
    scheduler()
    assert OrmQ.objects.count() == before + 1
    # A changed interval is taken at the next start, without a migration.
    settings.INFUSIONS_CHECK_EVERY_MINUTES = 3
    schedule, changed = tasks.ensure_schedule()
    assert changed and schedule.minutes == 3
    assert Schedule.objects.filter(name=tasks.CHECKS_SCHEDULE).count() == 1
