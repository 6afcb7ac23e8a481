"""Server-Sent Events: the transport of a channel of the event bus to a browser. Who may open a
stream is the view's business (``accounts.access.async_clinic_view``); this module knows no users.

    return sse_response(request, channel_for_session(session.pk))

The stream starts with a ``retry:`` hint, replays what the client missed (``Last-Event-ID``
header, sent by the browser on reconnect, or ``?last_event_id=``), then sends each new event as
``id:`` / ``event:`` / ``data:`` lines, and a comment line as heartbeat every ``HEARTBEAT_SECONDS``
so proxies keep the connection open and a dead client is noticed.

A stream outlives the request that opened it, so the view passes ``allowed``: asked again before
every event and every heartbeat, it ends the stream with a ``signed-out`` event as soon as the
user signed out, was deactivated or lost the role (``accounts.access.stream_guard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from ketaclinic.events.bus import subscribe

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
SIGNED_OUT = "event: signed-out\ndata: {}\n\n"


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
    channel: str,
    after: int,
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    retry_ms: int = RETRY_MS,
    allowed: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[str]:
    """The SSE text of a channel: retry hint, replay, then live events with heartbeats between;
    ended by a ``signed-out`` event the first time ``allowed`` says no."""
    yield f"retry: {retry_ms}\n: connected to {channel}\n\n"
    events = subscribe(channel, after).__aiter__()
    pending: asyncio.Future[dict[str, Any]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if allowed is not None and not await allowed():
                yield SIGNED_OUT
                return
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
    """The stream of ``channel``, checked before every event by the guard the access layer put on
    the request (``request.stream_allowed``, set by ``async_clinic_view``)."""
    options.setdefault("allowed", getattr(request, "stream_allowed", None))
    response = StreamingHttpResponse(
        event_stream(channel, last_event_id(request), **options), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"  # live patient values: never kept by a cache
    # nginx would otherwise buffer the stream and deliver it in lumps.
    response["X-Accel-Buffering"] = "no"
    return response
