"""Server-Sent Events from async views, and the async twin of ``accounts.access.clinic_view``.

    @async_clinic_view("infusions.view", load={"session": Session})
    async def session_stream(request, session):
        return sse_response(request, channel_for_session(session.pk))

The stream starts with a ``retry:`` hint, replays what the client missed (``Last-Event-ID``
header, sent by the browser on reconnect, or ``?last_event_id=``), then sends each new event as
``id:`` / ``event:`` / ``data:`` lines, and a comment line as heartbeat every ``HEARTBEAT_SECONDS``
so proxies keep the connection open and a dead client is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect

from ketaclinic.accounts.access import forbidden, has_permission, load_scoped, roles_for
from ketaclinic.events.bus import subscribe

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000

AsyncView = Callable[..., Awaitable[HttpResponseBase]]


def async_clinic_view(
    permission: str, *, load: Mapping[str, type[Any]] | None = None
) -> Callable[[AsyncView], Any]:
    """``clinic_view`` for async views: same rules, same ``.access`` / ``.loads`` stamps."""
    roles_for(permission)  # fail at import time on a typo
    loaders = dict(load or {})

    def decorator(view: AsyncView) -> AsyncView:
        @wraps(view)
        async def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            user = await request.auser()
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None:
                return redirect("accounts-choose-clinic")
            if not has_permission(membership, permission):
                return await sync_to_async(forbidden)(
                    request,
                    f"Your role ({membership.get_role_display()}) at {membership.clinic} "
                    f"does not allow this ({permission}).",
                )
            for name, model in loaders.items():
                kwargs[name] = await sync_to_async(load_scoped)(
                    model, membership.clinic, kwargs.pop(f"{name}_id")
                )
            return await view(request, **kwargs)

        wrapper.access = permission  # type: ignore[attr-defined]
        wrapper.loads = loaders  # type: ignore[attr-defined]
        return wrapper

    return decorator


def last_event_id(request: HttpRequest) -> int:
    """The id to resume after: the ``Last-Event-ID`` header, else ``?last_event_id=``, else 0."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def format_event(event: Mapping[str, Any]) -> str:
    data = json.dumps(event["payload"], separators=(",", ":"))
    # json.dumps never emits a raw newline, so the data fits on one `data:` line.
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {data}\n\n"


async def event_stream(
    channel: str, after: int, *, heartbeat: float = HEARTBEAT_SECONDS, retry_ms: int = RETRY_MS
) -> AsyncIterator[str]:
    """The SSE text of a channel: retry hint, replay, then live events with heartbeats between."""
    yield f"retry: {retry_ms}\n: connected to {channel}\n\n"
    events = subscribe(channel, after).__aiter__()
    pending: asyncio.Future[dict[str, Any]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield ": heartbeat\n\n"
                continue
            event, pending = pending.result(), None
            yield format_event(event)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await events.aclose()  # type: ignore[attr-defined]


def sse_response(request: HttpRequest, channel: str, **options: Any) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        event_stream(channel, last_event_id(request), **options), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    # nginx would otherwise buffer the stream and deliver it in lumps.
    response["X-Accel-Buffering"] = "no"
    return response
