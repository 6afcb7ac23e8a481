"""A live stream ends when its reader may no longer read it: signed out, deactivated, or no longer
holding the role in the clinic. The check at the door runs once; these run before every event."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.models import Membership, User
from ketaclinic.events import sse
from ketaclinic.infusions import actions

VITALS = {"systolic_mmhg": 191, "diastolic_mmhg": 78, "heart_rate_bpm": 70}


@pytest.fixture
def session(frontdesk, clinic_a, patient):
    return actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 1", scheduled_at=timezone.now()
    )


async def chunks(stream, timeout=5.0):
    out = []
    try:
        while True:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout)
            out.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    except StopAsyncIteration:
        return out


def run_until_cut_off(session, nurse, clinic_a, cut_off, url_name="infusions-stream", recorder=None):
    """Open the stream, read what is there, ``cut_off`` the reader, record vitals, read to the end."""

    async def run():
        client = AsyncClient()
        await client.aforce_login(nurse)
        args = [session.pk] if url_name == "infusions-stream" else []
        response = await client.get(reverse(url_name, args=args))
        stream = response.streaming_content.__aiter__()
        first = await asyncio.wait_for(stream.__anext__(), 5)
        replay = await asyncio.wait_for(stream.__anext__(), 5)  # the session's "scheduled" event
        await cut_off(client)
        await sync_to_async(actions.record_observation)(
            user=recorder or nurse, clinic=clinic_a, session=session, kind="vitals", data=VITALS,
            idempotency_key="v",
        )  # fmt: skip
        return [first, replay, *await chunks(stream)]

    return [c.decode() if isinstance(c, bytes) else c for c in async_to_sync(run)()]


def test_signing_out_ends_the_stream_before_the_next_reading(session, nurse, clinic_a):
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")

    async def sign_out(client):
        await client.alogout()

    text = run_until_cut_off(session, nurse, clinic_a, sign_out)
    assert text[-1] == sse.SIGNED_OUT
    assert not any("191" in chunk for chunk in text)  # the reading recorded after sign-out never left


def test_a_deactivated_user_is_cut_off(session, nurse, clinic_a):
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")

    async def deactivate(client):
        await User.objects.filter(pk=nurse.pk).aupdate(is_active=False)

    text = run_until_cut_off(session, nurse, clinic_a, deactivate)
    assert text[-1] == sse.SIGNED_OUT and not any("191" in chunk for chunk in text)


def test_losing_the_role_in_the_clinic_ends_the_floor_stream(session, nurse, prescriber, clinic_a):
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")

    async def remove_role(client):
        await Membership.objects.filter(user=nurse, clinic=clinic_a).aupdate(is_active=False)

    text = run_until_cut_off(
        session, nurse, clinic_a, remove_role, url_name="infusions-floor-stream", recorder=prescriber
    )
    assert text[-1] == sse.SIGNED_OUT and not any("191" in chunk for chunk in text)


def test_a_reader_still_allowed_gets_the_reading(session, nurse, clinic_a):
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")

    async def run():
        client = AsyncClient()
        await client.aforce_login(nurse)
        response = await client.get(reverse("infusions-stream", args=[session.pk]))
        stream = response.streaming_content.__aiter__()
        text = ""
        await sync_to_async(actions.record_observation)(
            user=nurse, clinic=clinic_a, session=session, kind="vitals", data=VITALS, idempotency_key="v"
        )
        while "191" not in text:
            chunk = await asyncio.wait_for(stream.__anext__(), 5)
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
        await stream.aclose()
        return text

    assert sse.SIGNED_OUT not in async_to_sync(run)()


def test_an_idle_stream_is_cut_off_at_its_next_heartbeat(db):
    answers = iter([True, False])

    async def allowed():
        return next(answers)

    async def run():
        stream = sse.event_stream("quiet", 0, heartbeat=0.05, allowed=allowed).__aiter__()
        return await chunks(stream)

    assert async_to_sync(run)() == [
        "retry: 2000\n: connected to quiet\n\n",
        ": heartbeat\n\n",
        sse.SIGNED_OUT,
    ]
