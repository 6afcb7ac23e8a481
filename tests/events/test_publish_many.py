"""publish_many: one change announced on several channels in one INSERT (and on PostgreSQL one advisory
lock and one NOTIFY), with the same rows, ids and wake-ups as one publish per channel."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ketaclinic.events import bus
from ketaclinic.events.models import Event
from tests.events.conftest import EVENT_APPS


def test_rows_ids_and_statements(db, clinic_a):
    events = [("session:3", {"type": "observation", "n": 1}), ("floor:1", {"type": "observation", "n": 2})]
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        ids = bus.publish_many(events, clinic=clinic_a)
    rows = [Event.objects.get(pk=pk) for pk in ids]
    assert [(r.channel, r.type, r.payload, r.clinic) for r in rows] == [
        ("session:3", "observation", {"type": "observation", "n": 1}, clinic_a),
        ("floor:1", "observation", {"type": "observation", "n": 2}, clinic_a),
    ]
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert [sql for sql in statements if sql.startswith("INSERT")] == [statements[len(statements) // 2]]
    assert 'INSERT INTO "events_event"' in statements[len(statements) // 2]
    if connection.vendor == "postgresql":  # the lock, the INSERT, one NOTIFY statement for both
        assert len(statements) == 3
        assert "pg_advisory_xact_lock" in statements[0] and statements[2].count("pg_notify") == 2
    else:
        assert len(statements) == 1


def test_one_event_per_channel_and_nothing_written_on_refusal(db):
    with pytest.raises(ValueError, match="one event per channel"):
        bus.publish_many([("floor:1", {}), ("floor:1", {})])
    with pytest.raises(ValueError, match="channel"):
        bus.publish_many([("floor:1", {}), ("", {})])
    assert bus.publish_many([]) == []
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True, available_apps=EVENT_APPS)
def test_both_channels_are_woken_on_commit(settings):
    settings.EVENTS_POLL_SECONDS = settings.EVENTS_PG_POLL_SECONDS = 30  # only the commit can wake them

    def publish():
        with transaction.atomic():
            return bus.publish_many([("session:5", {"type": "a"}), ("floor:2", {"type": "a"})])

    async def run():
        session = bus.subscribe("session:5").__aiter__()
        floor = bus.subscribe("floor:2").__aiter__()
        try:
            waiting = [asyncio.ensure_future(session.__anext__()), asyncio.ensure_future(floor.__anext__())]
            await asyncio.sleep(0.2)
            ids = await sync_to_async(publish)()
            got = await asyncio.wait_for(asyncio.gather(*waiting), 1.0)
            return ids, got
        finally:
            await session.aclose()
            await floor.aclose()

    ids, got = async_to_sync(run)()
    assert [e["id"] for e in got] == ids
    assert [e["channel"] for e in got] == ["session:5", "floor:2"]
