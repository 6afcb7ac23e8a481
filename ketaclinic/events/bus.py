"""Publish and subscribe: one interface, two ways of waking subscribers.

Contract
--------
``publish(channel, event, clinic=None) -> event_id`` stores the event as an ``Event`` row *in the
caller's transaction*. Call it last in an action, after ``audit.record``: the row exists exactly
when the change it announces was committed, and subscribers are woken only after the commit.
``publish_many([(channel, event), ...], clinic=None) -> [event_id, ...]`` does the same for several
events at once (an action announcing one change on the session's and the floor's channel): one
INSERT, and on PostgreSQL one advisory lock and one NOTIFY statement, instead of one of each per event.

``subscribe(channel, last_event_id) -> async iterator of Event dicts`` first replays every stored
event of the channel with an id above ``last_event_id``, in id order, then waits for new ones. It
never skips an event and never delivers one twice within one subscription, so a client that
reconnects with ``Last-Event-ID`` misses nothing.

Waking
------
The database is the source of truth; a wake-up only tells a subscriber to look now.

- In-process (SQLite, one server): ``transaction.on_commit`` wakes the waiting subscribers of the
  channel in this process. Writers in other processes (a device-ingest worker) are picked up by
  polling the channel every ``EVENTS_POLL_SECONDS`` (default 1 s, an indexed query).
- PostgreSQL (several servers): ``publish`` also runs ``pg_notify`` inside the transaction, which
  PostgreSQL delivers on commit and drops on rollback; one listener thread per process LISTENs on
  a dedicated connection and wakes that process's subscribers. Polling (every
  ``EVENTS_PG_POLL_SECONDS``, default 5 s) covers a lost listener connection.

Ordering on PostgreSQL: concurrent transactions could commit event ids out of order, and a
subscriber that had seen id 11 would then never look at a late-committing id 10. ``publish``
therefore takes a transaction-scoped advisory lock before inserting, so event ids are handed out
in commit order. SQLite serializes writers itself.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.utils import timezone

from ketaclinic.events.models import Event

log = logging.getLogger(__name__)

PG_CHANNEL = "ketaclinic_events"
# Arbitrary 64-bit key for pg_advisory_xact_lock: "ketaclin" in ASCII.
PG_LOCK_KEY = 0x6B657461636C696E
FETCH_BATCH = 500


def channel_for_session(session_id: int) -> str:
    return f"session:{session_id}"


def channel_for_floor(clinic_id: int) -> str:
    return f"floor:{clinic_id}"


# --- waking subscribers in this process --------------------------------------------------------


@dataclass(eq=False)
class Waiter:
    channel: str
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # the subscriber's loop has closed; it is going away
            pass


class Waiters:
    """channel -> the subscribers waiting on it in this process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: dict[str, set[Waiter]] = {}

    def add(self, channel: str) -> Waiter:
        waiter = Waiter(channel, asyncio.get_running_loop())
        with self._lock:
            self._by_channel.setdefault(channel, set()).add(waiter)
        return waiter

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            group = self._by_channel.get(waiter.channel)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._by_channel[waiter.channel]

    def wake(self, channel: str) -> None:
        with self._lock:
            group = list(self._by_channel.get(channel, ()))
        for waiter in group:
            waiter.wake()

    def wake_all(self) -> None:
        with self._lock:
            group = [w for ws in self._by_channel.values() for w in ws]
        for waiter in group:
            waiter.wake()

    def count(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is not None:
                return len(self._by_channel.get(channel, ()))
            return sum(len(ws) for ws in self._by_channel.values())


waiters = Waiters()


# --- backends ------------------------------------------------------------------------------


class InProcessBackend:
    """One server: wake this process's subscribers after commit; poll for other processes' writers."""

    name = "in-process"

    def __init__(self, using: str = "default") -> None:
        self.using = using

    @property
    def poll_seconds(self) -> float:
        return float(getattr(settings, "EVENTS_POLL_SECONDS", 1.0))

    def before_insert(self) -> None:
        pass

    def after_insert(self, channels: Sequence[str]) -> None:
        for channel in channels:
            transaction.on_commit(functools.partial(waiters.wake, channel), using=self.using)

    def ensure_listening(self) -> None:
        pass


class PostgresBackend(InProcessBackend):
    """Several servers: NOTIFY in the transaction (delivered on commit), LISTEN in a thread per process."""

    name = "postgresql"
    _listener: PgListener | None = None
    _listener_lock = threading.Lock()

    @property
    def poll_seconds(self) -> float:
        return float(getattr(settings, "EVENTS_PG_POLL_SECONDS", 5.0))

    def before_insert(self) -> None:
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PG_LOCK_KEY])

    def after_insert(self, channels: Sequence[str]) -> None:
        # One statement for all channels (each would be a round trip); the SQL holds placeholders only.
        calls = ", ".join(["pg_notify(%s, %s)"] * len(channels))
        params = [value for channel in channels for value in (PG_CHANNEL, channel)]
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"SELECT {calls}", params)  # noqa: S608
        # This process's own subscribers need no round trip through the server.
        super().after_insert(channels)

    def ensure_listening(self) -> None:
        cls = type(self)
        with cls._listener_lock:
            params = _conninfo(connections[self.using].settings_dict)
            listener = cls._listener
            if listener is None or not listener.is_alive() or listener.params != params:
                if listener is not None:
                    listener.stop()
                listener = cls._listener = PgListener(params)
                listener.start()
        listener.wait_ready(timeout=5.0)


def _conninfo(settings_dict: dict[str, Any]) -> dict[str, Any]:
    """psycopg connection keywords for the database Django uses (the test database under pytest)."""
    keys = {"NAME": "dbname", "USER": "user", "PASSWORD": "password", "HOST": "host", "PORT": "port"}
    params = {kw: settings_dict[key] for key, kw in keys.items() if settings_dict.get(key)}
    options = settings_dict.get("OPTIONS") or {}
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"):
        if name in options:
            params[name] = options[name]
    return params


class PgListener(threading.Thread):
    """LISTENs on its own autocommit connection and wakes subscribers; reconnects on failure."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(name="ketaclinic-pg-listener", daemon=True)
        self.params = params
        self._stopping = threading.Event()
        self._ready = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**self.params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    self._ready.set()
                    backoff = 0.5
                    # Anything committed while we were not listening is found by the re-query.
                    waiters.wake_all()
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            waiters.wake(note.payload)
            except Exception:  # a dropped connection must not end live updates
                log.warning("event listener lost its PostgreSQL connection; reconnecting", exc_info=True)
                self._ready.clear()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


def stop_listening(timeout: float = 5.0) -> None:
    """Stop this process's PostgreSQL listener, if any (tests, before the test database is dropped)."""
    with PostgresBackend._listener_lock:
        listener, PostgresBackend._listener = PostgresBackend._listener, None
    if listener is not None:
        listener.stop()
        listener.join(timeout)


def backend(using: str = "default") -> InProcessBackend:
    """The backend for the database's vendor: LISTEN/NOTIFY on PostgreSQL, in-process otherwise."""
    if connections[using].vendor == "postgresql":
        return PostgresBackend(using)
    return InProcessBackend(using)


# --- the interface -------------------------------------------------------------------------


def publish(channel: str, event: dict[str, Any], *, clinic: Any = None, using: str = "default") -> int:
    """Store ``event`` on ``channel`` in the current transaction; subscribers wake after commit.

    ``event["type"]`` (default "message") becomes the SSE event name. Values must be JSON-able
    (dates and decimals are turned into strings). Returns the event id.
    """
    return publish_many([(channel, event)], clinic=clinic, using=using)[0]


def publish_many(
    events: Sequence[tuple[str, dict[str, Any]]], *, clinic: Any = None, using: str = "default"
) -> list[int]:
    """``publish`` for several ``(channel, event)`` pairs at once, each on a different channel.

    One INSERT for all rows (and on PostgreSQL one advisory lock and one NOTIFY statement), so an
    action that announces one change on two channels pays for one. The events commit together and
    a subscriber follows one channel, so their order across channels means nothing; within a
    channel, order is by call (hence one event per channel here, or a ``ValueError``).
    """
    if not events:
        return []
    channels = [channel for channel, _ in events]
    for channel in channels:
        if not channel or len(channel) > 100:
            raise ValueError("channel must be 1-100 characters")
    if len(set(channels)) != len(channels):
        raise ValueError("publish_many takes one event per channel; publish the others in order")
    payloads = [json.loads(json.dumps(event, cls=DjangoJSONEncoder)) for _, event in events]
    chosen = backend(using)
    # No savepoint inside the caller's transaction: a failure here fails the whole action anyway.
    with transaction.atomic(using=using, savepoint=False):
        chosen.before_insert()
        # Stamped once the ordering lock is held, just before the INSERT (the session bench reads it).
        now = timezone.now()
        rows = [
            Event(
                channel=channel,
                clinic=clinic,
                type=str(event.get("type", "message"))[:60],
                payload=payload,
                created_at=now,
            )
            for (channel, event), payload in zip(events, payloads, strict=True)
        ]
        if len(rows) > 1 and connections[using].features.can_return_rows_from_bulk_insert:
            # PostgreSQL and SQLite >= 3.35 return the new ids (RETURNING); Django sets them on the rows.
            Event.objects.using(using).bulk_create(rows)
        else:
            # One row, or an older SQLite whose bulk INSERT cannot return the ids the caller needs.
            for row in rows:
                row.save(using=using, force_insert=True)
        chosen.after_insert(channels)
    return [row.id for row in rows]


def events_after(channel: str, after: int, limit: int, *, using: str = "default") -> list[Event]:
    """The channel's stored events after id ``after``, oldest first, at most ``limit``."""
    return list(Event.objects.using(using).filter(channel=channel, id__gt=after).order_by("id")[:limit])


def last_event_id(channel: str, *, using: str = "default") -> int:
    """The id of the channel's newest event (0 for none): where a page's live stream resumes."""
    newest = Event.objects.using(using).filter(channel=channel).order_by("-id").values_list("id", flat=True)
    return newest.first() or 0


def _fetch(channel: str, after: int, using: str) -> list[dict[str, Any]]:
    return [row.to_dict() for row in events_after(channel, after, FETCH_BATCH, using=using)]


async def subscribe(
    channel: str, last_event_id: int = 0, *, using: str = "default"
) -> AsyncIterator[dict[str, Any]]:
    """Replay events after ``last_event_id``, then yield new ones as they are committed. Endless."""
    chosen = backend(using)
    await sync_to_async(chosen.ensure_listening)()
    fetch = sync_to_async(_fetch)
    # Register before the first read: a commit between the read and the wait still wakes us.
    waiter = waiters.add(channel)
    last = int(last_event_id)
    try:
        while True:
            waiter.event.clear()
            rows = await fetch(channel, last, using)
            for row in rows:
                last = row["id"]
                yield row
            if len(rows) == FETCH_BATCH:
                continue
            try:
                await asyncio.wait_for(waiter.event.wait(), timeout=chosen.poll_seconds)
            except TimeoutError:
                pass
    finally:
        waiters.remove(waiter)
