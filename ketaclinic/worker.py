"""The background worker: a django-q2 cluster plus a frequent look at its schedules (docs/operations.md).

``run()`` is ``ketaclinic worker``. It refuses an unmigrated database, ensures the periodic-check
schedule, starts a django-q2 ``Cluster`` (sentinel, task processes, pusher, monitor) and then, in
its own main thread, runs django-q2's scheduler every ``WORKER_SCHEDULER_SECONDS``: django-q2's
sentinel looks at schedules only once per 30 s of its guard loop, which would let a 1-minute check
run up to 90 s apart. It stops the cluster cleanly on SIGTERM or SIGINT, and also when the process
it was started by (``--parent-pid``, which ``ketaclinic serve`` passes) is gone, so a worker never
outlives a killed server.

``start_child()`` and ``stop_child()`` are what ``ketaclinic serve`` uses to run it beside the web
server.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

logger = logging.getLogger("ketaclinic.worker")

# How often the main loop wakes to look at its parent and at the cluster.
TICK_SECONDS = 0.5
# How long `serve` lets the worker finish its running task before killing its process group.
STOP_GRACE_SECONDS = 15.0


class NotMigrated(Exception):
    """The database lacks migrations; the worker must not run against it."""


def check_migrated() -> None:
    """Raise ``NotMigrated`` naming what is missing; the web server (``ketaclinic serve``) migrates."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:3])
        more = f" and {len(plan) - 3} more" if len(plan) > 3 else ""
        raise NotMigrated(
            f"the database has {len(plan)} unapplied migration(s) ({names}{more}); run "
            "`ketaclinic manage migrate` (or start `ketaclinic serve`, which migrates) first"
        )


def describe_broker() -> str:
    from django.conf import settings

    conf = settings.Q_CLUSTER
    if "redis" in conf:
        return "Redis"
    db = settings.DATABASES[str(conf.get("orm", "default"))]
    return f"the database ({db['ENGINE'].rsplit('.', 1)[-1]})"


def run(*, parent_pid: int | None = None) -> int:
    """Run the worker until a signal, or until ``parent_pid`` is no longer this process's parent."""
    from django import db
    from django.conf import settings
    from django_q.brokers import get_broker
    from django_q.cluster import Cluster
    from django_q.scheduler import scheduler

    from ketaclinic.infusions.tasks import ensure_schedule

    try:
        check_migrated()
    except NotMigrated as exc:
        print(f"ketaclinic worker: {exc}", file=sys.stderr)
        return 2
    ensure_schedule()
    every = float(settings.WORKER_SCHEDULER_SECONDS)
    # Forked processes must not share this process's database connection.
    db.connections.close_all()

    # A plain flag: a handler that took a lock (threading.Event.set) could deadlock against the
    # main thread it interrupts, which may be holding that very lock.
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    cluster = Cluster()  # installs its own handlers, which stop from inside the handler; use ours
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cluster.start()
    broker = get_broker()
    print(
        f"ketaclinic worker: running (queue in {describe_broker()}; infusion checks every "
        f"{settings.INFUSIONS_CHECK_EVERY_MINUTES} min, schedules looked at every {every:g} s)",
        flush=True,
    )
    status = 0
    next_scan = 0.0
    try:
        while not stop:
            if parent_pid is not None and os.getppid() != parent_pid:
                print("ketaclinic worker: the server that started me is gone; stopping", flush=True)
                break
            if cluster.sentinel is None or not cluster.sentinel.is_alive():
                print("ketaclinic worker: the task cluster died; stopping", file=sys.stderr, flush=True)
                status = 1
                break
            if time.monotonic() >= next_scan:
                # django-q2's own scheduler: due schedules become tasks; it logs and survives errors.
                scheduler(broker=broker)
                next_scan = time.monotonic() + every
            time.sleep(min(TICK_SECONDS, every))
    finally:
        if cluster.sentinel is not None and cluster.sentinel.is_alive():
            cluster.stop()
        db.connections.close_all()
    print("ketaclinic worker: stopped", flush=True)
    return status


def start_child() -> subprocess.Popen[bytes]:
    """Start ``ketaclinic worker`` as a child watching this process; its own process group."""
    return subprocess.Popen(  # noqa: S603 - our own CLI, with this interpreter
        [sys.executable, "-m", "ketaclinic.cli", "worker", "--parent-pid", str(os.getpid())],
        # Its own group: a terminal's Ctrl+C reaches the server, which stops the worker in order,
        # and a worker that will not stop is killed with every process of its cluster.
        start_new_session=True,
    )


def stop_child(child: subprocess.Popen[bytes], grace_seconds: float = STOP_GRACE_SECONDS) -> int | None:
    """SIGTERM the worker, wait for it to finish its running task, else kill its whole group."""
    if child.poll() is not None:
        return child.returncode
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        logger.warning("the worker did not stop within %s s; killing it", grace_seconds)
    # Still running, so the group id is still its own: the sentinel and task processes are in it,
    # and none may outlive the server.
    os.killpg(child.pid, signal.SIGKILL)
    return child.wait(5)
