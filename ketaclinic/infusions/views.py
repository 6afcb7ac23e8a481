"""Infusion views. The live streams are async (Server-Sent Events); pages follow the house pattern."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpResponseBase

from ketaclinic.events.bus import channel_for_floor, channel_for_session
from ketaclinic.events.sse import async_clinic_view, sse_response
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Session


@async_clinic_view("infusions.view", load={"session": Session})
async def session_stream(request: Any, session: Session) -> HttpResponseBase:
    """The chair view's live feed: every event of one session, resumable by Last-Event-ID."""
    await sync_to_async(actions.view_session)(
        user=request.user,
        clinic=request.clinic,
        session=session,
        what="stream",
        request=request,
    )
    return sse_response(request, channel_for_session(session.pk))


@async_clinic_view("infusions.board")
async def floor_stream(request: Any) -> HttpResponseBase:
    """The floor board's live feed: every session event of the active clinic."""
    return sse_response(request, channel_for_floor(request.clinic.pk))
