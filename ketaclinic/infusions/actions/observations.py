"""Recording an observation (idempotent, acknowledged after commit), correcting it, withdrawing one
entered in error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.audit.actions import record
from ketaclinic.infusions import alert_rules as rules
from ketaclinic.infusions import observations, states
from ketaclinic.infusions.actions.alerts import _evaluate, _raise_alerts
from ketaclinic.infusions.actions.common import (
    ALREADY_CORRECTED,
    IS_WITHDRAWAL,
    MAX_BACKDATE,
    announce,
    clean_key,
    locked,
    observed_moment,
    required_text,
)
from ketaclinic.infusions.actions.queries import session_protocol
from ketaclinic.infusions.models import (
    Alert,
    Observation,
    Session,
    SessionState,
    Source,
)


def _same_values(existing: Observation, values: Mapping[str, Any]) -> bool:
    stored = existing.values()
    return all(str(stored[k]) == str(v) for k, v in values.items())


def _same_submission(existing: Observation, kind: str, values: Mapping[str, Any], corrects: Any) -> bool:
    return (
        existing.kind == kind
        and existing.corrects_id == (corrects.pk if corrects is not None else None)
        and _same_values(existing, values)
    )


@dataclass(frozen=True)
class Recorded:
    """What ``record_observation`` did: the observation, whether it is new (False: a retry answered
    with the stored one), and the alerts it raised (a retry raises none; they were raised the first
    time). Unpacks and indexes as the pair ``(observation, created)``."""

    observation: Observation
    created: bool
    alerts: tuple[Alert, ...] = ()

    def __iter__(self) -> Iterator[Any]:
        return iter((self.observation, self.created))

    def __getitem__(self, index: int) -> Any:
        return (self.observation, self.created)[index]

    def __len__(self) -> int:
        return 2


def record_observation(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    kind: str,
    data: Mapping[str, Any],
    idempotency_key: Any,
    observed_at: Any = None,
    source: str = Source.MANUAL,
    device_id: str = "",
    corrects: Observation | None = None,
    correction_reason: str = "",
    thresholds: rules.Thresholds | None = None,
    membership: Membership | None = None,
) -> Recorded:
    """Store one observation, evaluate it, raise alerts, and announce it. Returns a ``Recorded``
    (it unpacks as ``observation, created``; ``alerts`` are those a new observation raised).

    A retry with the same ``idempotency_key`` returns the stored observation and writes nothing;
    the same key with different content is refused. It is acknowledged (returned) only after commit.

    ``membership``: the caller's, when already read in this request (``require``).

    A device may post every few seconds per chair, so the statements are counted
    (tests/infusions/test_query_counts.py): the session is read and locked once with its order,
    the idempotency key is checked by the INSERT itself (the unique constraint; a retry is found
    after the rollback), and the alert rules read only the baseline blood pressure.
    """
    require(user, clinic, "infusions.record", membership)
    same_clinic(session.clinic_id, clinic, "session")
    key = clean_key(idempotency_key)
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}; manual or device."})
    try:
        values = observations.clean(kind, data)
    except observations.ObservationError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    now = timezone.now()
    when = observed_moment(observed_at, "observed_at", clinic, now)
    # A correction keeps the time of what it corrects, however long ago; a new time must be recent.
    kept_time = corrects is not None and when == corrects.observed_at
    if when < now - MAX_BACKDATE and not kept_time:
        raise ValidationError({"observed_at": "More than 24 hours ago; add a note to the session instead."})
    try:
        with transaction.atomic():
            recorded = _store_observation(
                user=user,
                clinic=clinic,
                session=session,
                kind=kind,
                values=values,
                key=key,
                when=when,
                now=now,
                source=source,
                device_id=device_id,
                corrects=corrects,
                correction_reason=correction_reason,
                thresholds=thresholds,
            )
    except IntegrityError:
        # The key is taken: a retry (perhaps racing the original), rolled back; answer with the stored one.
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is None:
            if corrects is not None and Observation.objects.filter(corrects=corrects).exists():
                raise ValidationError({"corrects": ALREADY_CORRECTED}) from None
            raise
        return _replayed(existing, kind, values, corrects)
    return recorded


def _store_observation(  # noqa: PLR0913 - record_observation's checked values
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    kind: str,
    values: Mapping[str, Any],
    key: str,
    when: datetime,
    now: datetime,
    source: str,
    device_id: str,
    corrects: Observation | None,
    correction_reason: str,
    thresholds: rules.Thresholds | None,
) -> Recorded:
    """The write of ``record_observation``, in its transaction. An IntegrityError leaves it (rolled back)."""
    # Only the session row is locked (its clinic and order are read with it, not locked).
    session = (
        Session.objects.select_for_update(of=("self",))
        .select_related("clinic", "dose_order")
        .get(pk=session.pk)
    )
    if corrects is None and session.state in (SessionState.SCHEDULED, *states.FINAL):
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:  # a late retry of what was stored before discharge
            return _replayed(existing, kind, values, corrects)
        raise ValidationError(
            {
                "session": f"The session is {session.get_state_display()}; observations are recorded "
                "from check-in to discharge (corrections are always possible)."
            }
        )
    obs = Observation(
        session=session,
        kind=kind,
        observed_at=when,
        recorded_at=now,
        recorded_by=user,
        source=source,
        device_id=str(device_id or "")[:100],
        # A correction belongs to the phase of what it corrects: a corrected pre-dose reading
        # is still the pre-dose baseline, a corrected recovery score still counts for discharge.
        phase=corrects.phase if corrects is not None else session.state,
        idempotency_key=key,
        corrects=corrects,
        correction_reason=correction_reason,
        **values,
    )
    obs.save(force_insert=True)
    if thresholds is None:
        thresholds = session_protocol(session).thresholds
    alerts = _raise_alerts(session, _evaluate(session, obs, thresholds), obs)
    action = "infusions.observation.correct" if corrects is not None else "infusions.observation.record"
    record(
        action,
        user=user,
        clinic=clinic,
        obj=obs,
        patient_id=session.patient_id,
        detail={
            "kind": kind,
            "idempotency_key": key,
            "source": source,
            "values": values,
            "corrects": corrects.pk if corrects else None,
            "reason": correction_reason,
            "alerts": [a.code for a in alerts],
        },
    )
    event = {"type": "observation", "observation": obs.to_dict(), "alerts": [a.to_dict() for a in alerts]}
    announce(session, event)
    return Recorded(obs, True, tuple(alerts))


def _replayed(existing: Observation, kind: str, values: Mapping[str, Any], corrects: Any) -> Recorded:
    if not _same_submission(existing, kind, values, corrects):
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different observation; use a new key."}
        )
    return Recorded(existing, False)


def correct_observation(
    *,
    user: User,
    clinic: Clinic,
    original: Observation,
    data: Mapping[str, Any],
    reason: str,
    idempotency_key: Any,
    observed_at: Any = None,
) -> Recorded:
    """A new observation of the same kind that replaces ``original`` (which is kept, never edited)."""
    require(user, clinic, "infusions.record")
    session = original.session
    same_clinic(session.clinic_id, clinic, "observation")
    if original.withdrawn:
        raise ValidationError({"corrects": IS_WITHDRAWAL})
    reason = required_text(reason, "correction_reason", "Say why the observation is corrected.")
    replaced = Observation.objects.filter(corrects=original).first()
    if replaced is not None and replaced.withdrawn:
        raise ValidationError({"corrects": _withdrawn_message(replaced)})
    if replaced is not None and replaced.idempotency_key != str(idempotency_key or "").strip():
        raise ValidationError({"corrects": ALREADY_CORRECTED})
    when = original.observed_at
    if observed_at not in (None, ""):
        when = observed_moment(observed_at, "observed_at", clinic, timezone.now())
        # A form shows the time to the second: the same second means the time was not changed.
        if when.replace(microsecond=0) == original.observed_at.replace(microsecond=0):
            when = original.observed_at
    if replaced is None:
        try:
            values = observations.clean(original.kind, data)
        except observations.ObservationError as exc:
            raise ValidationError({exc.field: exc.message}) from None
        if when == original.observed_at and _same_values(original, values):
            raise ValidationError(
                {"corrects": "Nothing differs from the recorded observation; change a value."}
            )
    return record_observation(
        user=user,
        clinic=clinic,
        session=session,
        kind=original.kind,
        data=data,
        idempotency_key=idempotency_key,
        observed_at=when,
        source=Source.MANUAL,
        corrects=original,
        correction_reason=reason,
    )


def _withdrawn_message(withdrawal: Observation) -> str:
    return (
        f"This observation was withdrawn as entered in error (#{withdrawal.pk}: "
        f"{withdrawal.correction_reason}); record a new one instead."
    )


def withdraw_observation(
    *,
    user: User,
    clinic: Clinic,
    original: Observation,
    reason: str,
    idempotency_key: Any,
) -> tuple[Observation, bool]:
    """Withdraw ``original`` as entered in error (wrong kind, wrong session, recorded twice).

    Writes a withdrawal: a new row of the same kind, time and phase whose ``corrects`` points at
    ``original``, with ``withdrawn`` set, no values, the reason and its author. ``original`` is kept,
    never edited; both leave ``Observation.current()``, so nothing computed reads the entry again.
    Only the head of a chain can be withdrawn (withdraw the correction, not what it corrected); a
    withdrawal cannot be withdrawn or corrected. The open alerts the entry raised stay open for a
    nurse to acknowledge. Returns (withdrawal, created); a retry with the same key returns the stored one.
    """
    require(user, clinic, "infusions.record")
    session = original.session
    same_clinic(session.clinic_id, clinic, "observation")
    key = clean_key(idempotency_key)
    reason = required_text(reason, "withdrawal_reason", "Say why the entry is withdrawn.")
    if original.withdrawn:
        raise ValidationError({"corrects": IS_WITHDRAWAL})
    try:
        with transaction.atomic():
            session = locked(session)
            existing = Observation.objects.filter(session=session, idempotency_key=key).first()
            if existing is not None:
                return _replayed_withdrawal(existing, original, reason), False
            successor = Observation.objects.filter(corrects=original).first()
            if successor is not None and successor.withdrawn:
                raise ValidationError({"corrects": _withdrawn_message(successor)})
            if successor is not None:
                raise ValidationError(
                    {
                        "corrects": f"This observation was corrected by #{successor.pk}; "
                        "withdraw the correction instead."
                    }
                )
            withdrawal = _store_withdrawal(
                user=user,
                clinic=clinic,
                session=session,
                original=original,
                reason=reason,
                key=key,
            )
    except IntegrityError:
        # A concurrent withdrawal or key: rolled back; answer with what is stored.
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:
            return _replayed_withdrawal(existing, original, reason), False
        raise ValidationError({"corrects": ALREADY_CORRECTED}) from None
    return withdrawal, True


def _store_withdrawal(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    original: Observation,
    reason: str,
    key: str,
) -> Observation:
    withdrawal = Observation(
        session=session,
        kind=original.kind,
        # The withdrawn entry's time and phase: the withdrawal sits next to it in every list.
        observed_at=original.observed_at,
        recorded_at=timezone.now(),
        recorded_by=user,
        source=Source.MANUAL,
        phase=original.phase,
        idempotency_key=key,
        corrects=original,
        correction_reason=reason,
        withdrawn=True,
    )
    withdrawal.save(force_insert=True)
    still_open = list(
        Alert.objects.filter(observation=original, acknowledged_at__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    record(
        "infusions.observation.withdraw",
        user=user,
        clinic=clinic,
        obj=withdrawal,
        patient_id=session.patient_id,
        detail={
            "kind": original.kind,
            "idempotency_key": key,
            "withdraws": original.pk,
            "reason": reason,
            "values": original.to_dict()["values"],
            "open_alerts": still_open,
        },
    )
    event = {
        "type": "observation",
        "observation": withdrawal.to_dict(),
        "withdraws": original.pk,
        "alerts": [],
    }
    announce(session, event)
    return withdrawal


def _replayed_withdrawal(existing: Observation, original: Observation, reason: str) -> Observation:
    same = existing.withdrawn and existing.corrects_id == original.pk and existing.correction_reason == reason
    if not same:
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different entry; use a new key."}
        )
    return existing
