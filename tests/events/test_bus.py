"""publish / subscribe on the database in use (SQLite in-process, PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction

from ketaclinic.events import bus
from ketaclinic.events.models import Event
from tests.events.conftest import EVENT_APPS


def publish_committed(channel, event, clinic=None):
    with transaction.atomic():
        return bus.publish(channel, event, clinic=clinic)


async def take(iterator, n, timeout=3.0):
    """The next ``n`` events of a subscription, or fail after ``timeout`` seconds."""
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(iterator.__anext__(), timeout))
    return out


async def nothing_within(iterator, seconds):
    task = asyncio.ensure_future(iterator.__anext__())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        return task.result()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return None


def test_publish_writes_a_row_in_the_callers_transaction(db, clinic_a):
    event_id = publish_committed("session:1", {"type": "observation", "value": 1}, clinic=clinic_a)
    row = Event.objects.get(pk=event_id)
    assert (row.channel, row.type, row.payload, row.clinic) == (
        "session:1",
        "observation",
        {"type": "observation", "value": 1},
        clinic_a,
    )


def test_a_rolled_back_transaction_leaves_no_event(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        bus.publish("session:1", {"type": "observation"})
        raise RuntimeError("the observation failed to save")
    assert not Event.objects.exists()


def test_payload_must_be_json_and_channel_named(db):
    from datetime import UTC, datetime
    from decimal import Decimal

    event_id = publish_committed("c", {"at": datetime(2025, 1, 6, tzinfo=UTC), "dose": Decimal("0.5")})
    assert Event.objects.get(pk=event_id).payload == {"at": "2025-01-06T00:00:00Z", "dose": "0.5"}
    with pytest.raises(ValueError, match="channel"):
        bus.publish("", {})


def test_backend_follows_the_database_vendor(db):
    chosen = bus.backend()
    expected = bus.PostgresBackend if connection.vendor == "postgresql" else bus.InProcessBackend
    assert type(chosen) is expected


def test_resume_replays_exactly_the_missed_events_in_order(db):
    ids = [publish_committed("session:7", {"type": "observation", "n": n}) for n in range(5)]
    publish_committed("session:8", {"type": "observation", "n": 99})  # another channel

    async def run():
        events = bus.subscribe("session:7", last_event_id=ids[1]).__aiter__()
        try:
            got = await take(events, 3)
            assert await nothing_within(events, 0.3) is None
        finally:
            await events.aclose()
        return got

    got = async_to_sync(run)()
    assert [e["id"] for e in got] == ids[2:]
    assert [e["payload"]["n"] for e in got] == [2, 3, 4]
    assert bus.waiters.count("session:7") == 0  # closing the subscription unregisters it


@pytest.mark.django_db(transaction=True, available_apps=EVENT_APPS)
def test_live_event_arrives_on_commit_not_by_polling(settings):
    # Polling is slowed to 30 s, so delivery within a third of that proves the commit woke the
    # subscriber (a failure bound with room for a busy machine, not a timing requirement).
    settings.EVENTS_POLL_SECONDS = settings.EVENTS_PG_POLL_SECONDS = 30

    async def run():
        events = bus.subscribe("floor:1", last_event_id=0).__aiter__()
        try:
            first = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.2)
            assert not first.done()
            started = time.monotonic()
            event_id = await sync_to_async(publish_committed)("floor:1", {"type": "state", "to": "dosing"})
            event = await asyncio.wait_for(first, 10.0)
            return event_id, event, time.monotonic() - started
        finally:
            await events.aclose()

    event_id, event, delay = async_to_sync(run)()
    assert event["id"] == event_id and event["payload"]["to"] == "dosing"
    assert delay < 10.0


@pytest.mark.django_db(transaction=True, available_apps=EVENT_APPS)
def test_a_rolled_back_publish_wakes_nobody_and_is_never_delivered(settings):
    settings.EVENTS_POLL_SECONDS = settings.EVENTS_PG_POLL_SECONDS = 0.2

    def publish_then_fail():
        try:
            with transaction.atomic():
                bus.publish("floor:2", {"type": "state"})
                raise RuntimeError
        except RuntimeError:
            pass

    async def run():
        events = bus.subscribe("floor:2").__aiter__()
        try:
            await sync_to_async(publish_then_fail)()
            # Several poll rounds pass: nothing, since nothing was committed.
            return await nothing_within(events, 1.0)
        finally:
            await events.aclose()

    assert async_to_sync(run)() is None
    assert not Event.objects.filter(channel="floor:2").exists()


def test_waiters_are_woken_per_channel():
    async def run():
        a = bus.waiters.add("a")
        b = bus.waiters.add("b")
        try:
            bus.waiters.wake("a")
            await asyncio.sleep(0)
            return a.event.is_set(), b.event.is_set()
        finally:
            bus.waiters.remove(a)
            bus.waiters.remove(b)

    assert asyncio.run(run()) == (True, False)
    assert bus.waiters.count() == 0


# --- PostgreSQL: across processes, and ids in commit order ---------------------------------

needs_pg = pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL only")

PUBLISHER = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from django.db import transaction
from ketaclinic.events.bus import publish
mode = sys.argv[1]
try:
    with transaction.atomic():
        publish("floor:9", {"type": "state", "mode": mode})
        if mode == "rollback":
            raise RuntimeError("rolled back")
except RuntimeError:
    pass
"""


def database_url():
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_publisher(mode):
    import os
    import subprocess
    import sys

    env = os.environ | {"DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "-c", PUBLISHER, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@needs_pg
@pytest.mark.django_db(transaction=True, available_apps=EVENT_APPS)
def test_notify_from_another_process_wakes_the_subscriber_and_a_rollback_does_not(settings):
    settings.EVENTS_PG_POLL_SECONDS = 60  # only NOTIFY can deliver within the test's time

    async def run():
        events = bus.subscribe("floor:9").__aiter__()
        try:
            first = asyncio.ensure_future(events.__anext__())
            await sync_to_async(run_publisher, thread_sensitive=False)("rollback")
            await asyncio.sleep(0.5)
            assert not first.done(), "a rolled-back transaction must not deliver"
            await sync_to_async(run_publisher, thread_sensitive=False)("commit")
            got = await asyncio.wait_for(first, 5.0)
            assert await nothing_within(events, 0.5) is None
            return got
        finally:
            await events.aclose()

    got = async_to_sync(run)()
    assert got["payload"]["mode"] == "commit"
    assert list(Event.objects.filter(channel="floor:9").values_list("payload__mode", flat=True)) == ["commit"]


@needs_pg
@pytest.mark.django_db(transaction=True, available_apps=EVENT_APPS)
def test_concurrent_publishers_get_ids_in_commit_order():
    import threading

    from django.db import connections

    first_inserted = threading.Event()
    release_first = threading.Event()
    ids: dict[str, int] = {}

    def first():
        try:
            with transaction.atomic():
                ids["first"] = bus.publish("floor:10", {"type": "x"})
                first_inserted.set()
                release_first.wait(5)
        finally:
            connections.close_all()

    def second():
        try:
            ids["second"] = publish_committed("floor:10", {"type": "x"})
        finally:
            connections.close_all()

    a = threading.Thread(target=first)
    a.start()
    assert first_inserted.wait(5)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.5)
    # The second publisher waits for the first to commit instead of taking an id ahead of it.
    assert b.is_alive() and "second" not in ids
    release_first.set()
    a.join(5)
    b.join(5)
    assert ids["first"] < ids["second"]
