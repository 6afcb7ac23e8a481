"""The SSE helper and the infusion stream views: access, replay from Last-Event-ID, heartbeats."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events import sse
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions


@pytest.fixture
def session(frontdesk, clinic_a, patient):
    return actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 1", scheduled_at=timezone.now()
    )


async def read_events(response, count, timeout=3.0):
    """SSE text until ``count`` events (``id:`` lines) have arrived."""
    text = ""
    stream = response.streaming_content.__aiter__()
    try:
        while text.count("\nid: ") + text.startswith("id: ") < count:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout)
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
    finally:
        await stream.aclose()
    return text


def test_stream_replays_the_events_after_last_event_id(session, nurse, clinic_a):
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")
    vitals = {"systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 70}
    actions.record_observation(
        user=nurse, clinic=clinic_a, session=session, kind="vitals", data=vitals, idempotency_key="a"
    )
    ids = list(
        Event.objects.filter(channel=f"session:{session.pk}").order_by("id").values_list("id", flat=True)
    )
    assert len(ids) == 3  # scheduled, checked in, vitals

    async def run():
        client = AsyncClient()
        await client.aforce_login(nurse)
        response = await client.get(
            reverse("infusions-stream", args=[session.pk]), headers={"Last-Event-ID": str(ids[0])}
        )
        return response, await read_events(response, 2)

    response, text = async_to_sync(run)()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-store"
    assert text.startswith("retry: 2000\n")
    assert f"id: {ids[0]}\n" not in text
    assert f"id: {ids[1]}\nevent: state\n" in text and f"id: {ids[2]}\nevent: observation\n" in text
    assert '"systolic_mmhg":124' in text
    entry = AuditEntry.objects.get(action="infusions.session.stream")
    assert (entry.user, entry.patient_id) == (nurse, session.patient_id)


def test_floor_stream_carries_every_chair_of_the_clinic(session, nurse, clinic_a):
    async def run():
        client = AsyncClient()
        await client.aforce_login(nurse)
        response = await client.get(reverse("infusions-floor-stream") + "?last_event_id=0")
        return await read_events(response, 1)

    text = async_to_sync(run)()
    assert "event: session\n" in text and f'"session_id":{session.pk}' in text


def test_stream_access(session, client, personas):
    url = reverse("infusions-stream", args=[session.pk])
    assert client.get(url).status_code == 302  # anonymous: to the sign-in page
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404  # another clinic's session does not exist for them
    client.force_login(personas["frontdesk"])
    assert client.get(url).status_code == 403
    assert client.get(reverse("infusions-floor-stream")).status_code == 403
    assert not AuditEntry.objects.filter(action="infusions.session.stream").exists()


def test_every_infusion_url_is_access_stamped():
    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern) and (p.name or "").startswith("infusions-"):
                yield p

    found = list(walk(get_resolver().url_patterns))
    assert {p.name for p in found} >= {"infusions-stream", "infusions-floor-stream"}
    assert all(hasattr(p.callback, "access") for p in found)
    assert asyncio.iscoroutinefunction(get_resolver().resolve("/infusions/floor/stream/").func)


def test_heartbeat_when_idle(db):
    async def run():
        stream = sse.event_stream("quiet", 0, heartbeat=0.05, retry_ms=500).__aiter__()
        try:
            return [await asyncio.wait_for(stream.__anext__(), 2) for _ in range(3)]
        finally:
            await stream.aclose()

    first, second, third = async_to_sync(run)()
    assert first.startswith("retry: 500\n")
    assert second == third == ": heartbeat\n\n"


@pytest.mark.parametrize(
    ("header", "query", "expected"), [("12", "", 12), ("", "7", 7), ("x", "", 0), ("", "", 0)]
)
def test_last_event_id(rf, header, query, expected):
    headers = {"Last-Event-ID": header} if header else {}
    request = rf.get("/s" + (f"?last_event_id={query}" if query else ""), headers=headers)
    assert sse.last_event_id(request) == expected


def test_format_event_is_one_data_line():
    text = sse.format_event({"id": 5, "type": "note", "payload": {"text": "line one\nline two"}})
    assert text == 'id: 5\nevent: note\ndata: {"text":"line one\\nline two"}\n\n'
