"""What the chair view, the floor board and the printed record show, built from the database.

Read-only helpers for the views: no writes, no audit (the views audit each read through
``actions.view_session``). The chart data is plain JSON for uPlot: times in Unix seconds.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.infusions import actions, observations, pump, rems, scales, states
from ketaclinic.infusions.actions.queries import as_dose
from ketaclinic.infusions.models import Alert, DosingEvent, Kind, Observation, Session, SessionState
from ketaclinic.infusions.session_rules import SessionRules
from ketaclinic.pkpd import Regimen, pd
from ketaclinic.protocols.prediction import Prediction, predict_order, predict_regimen


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def predict(
    session: Session, now: datetime | None = None, events: list[pump.Dose] | None = None
) -> Prediction | None:
    """The engine's prediction for the session (``protocols.prediction``); None without an order.

    Before dosing starts it is the order's; once it has started it follows what was given: the
    recorded start, rate changes, pauses, boluses and devices (``pump.given_regimen``), then the
    running rate to the order's volume. Its times count from the start of dosing."""
    order = session.dose_order
    if order is None:
        return None
    plan = actions.order_plan(session)
    given = None
    if plan is not None:
        doses = actions.dose_events(session) if events is None else events
        given = pump.given_regimen(plan, doses, now or timezone.now(), order.drug)
    if given is None:
        return predict_order(order)
    regimen = Regimen(given.events, text="as given")
    return predict_regimen(regimen, order.patient, order.weight_kg, given_until_min=given.given_until_min)


def ready_at(
    pred: Prediction | None,
    dosing_start: datetime | None,
    observation_start: datetime | None = None,
    min_observation: timedelta = timedelta(0),
) -> datetime | None:
    """The earliest time the concentration estimate allows leaving: the 95th percentile of
    simulated patients' fade, never before the protocol's minimum observation. It is an estimate
    of concentration; the discharge decision stays with the scored assessment."""
    if pred is None or not pred.ok or dosing_start is None:
        return None
    fade = pred.unnoticeable_p95_min if pred.unnoticeable_p95_min is not None else pred.unnoticeable_min
    if fade is None or math.isnan(fade):
        return None
    earliest = (observation_start or dosing_start) + min_observation
    return max(dosing_start + timedelta(minutes=fade), earliest)


def chart_data(session: Session) -> dict[str, Any]:
    """Series for the two charts: vitals with threshold lines, and observed vs predicted effect."""
    obs = list(Observation.current().filter(session=session).order_by("observed_at", "id"))
    proto = actions.session_protocol(session)
    t = proto.thresholds
    vitals = [o for o in obs if o.kind == Kind.VITALS]
    start = actions.dosing_started_at(session) or actions.observation_from(session, proto)
    pred = predict(session)
    predicted: dict[str, Any] = (
        {"ok": pred.ok, "error": pred.error} if pred else {"ok": False, "error": "no dose order linked"}
    )
    if pred is not None and pred.ok and start is not None:
        predicted["t"] = [_ts(start) + m * 60 for m in pred.times_min]
        predicted["effect_pct"] = list(pred.high_pct)
        # The chart draws the prediction as a concentration on its own axis (ng/mL), never on
        # the axis of the recorded ratings: a drug-high rating and a CADSS score are not one scale.
        predicted["effect_ng_per_ml"] = [round(v, 1) for v in pred.effect]
        predicted["band_low"] = [round(v, 1) for v in pred.band_low]
        predicted["band_high"] = [round(v, 1) for v in pred.band_high]
        predicted["unnoticeable_ng_per_ml"] = round(
            pd.UNNOTICEABLE_NG_PER_ML
            / (pd.S_KETAMINE_POTENCY_RATIO.value if pred.drug == "esketamine" else 1),
            1,
        )
        predicted["given_until_t"] = (
            None if pred.given_until_min is None else _ts(start) + pred.given_until_min * 60
        )
    ratings = [o for o in obs if o.kind in (Kind.CADSS6, Kind.CADSS, Kind.MOAAS)]
    return {
        "vitals": {
            "t": [_ts(o.observed_at) for o in vitals],
            "systolic": [o.systolic_mmhg for o in vitals],
            "diastolic": [o.diastolic_mmhg for o in vitals],
            "hr": [o.heart_rate_bpm for o in vitals],
            "spo2": [o.spo2_pct for o in vitals],
            "rr": [o.resp_rate_per_min for o in vitals],
        },
        "thresholds": {
            "severe_systolic": t.severe_systolic_mmhg,
            "severe_diastolic": t.severe_diastolic_mmhg,
            "max_hr": t.max_heart_rate_bpm,
            "spo2_low": t.warn_spo2_below_pct,
        },
        # Observed ratings as % of their own scale's maximum (left axis): CADSS-6 of 24, CADSS of
        # 92; MOAA/S as depth of sedation (5 - score) of 5.
        "ratings": [
            {
                "t": _ts(o.observed_at),
                "kind": o.kind,
                "score": o.score,
                "pct": round(
                    100.0 * (5 - (o.score or 0)) / 5
                    if o.kind == Kind.MOAAS
                    else 100.0 * (o.score or 0) / (24 if o.kind == Kind.CADSS6 else 92),
                    1,
                ),
            }
            for o in ratings
        ],
        "doses": [
            {"t": _ts(e.at), "kind": e.kind, "label": e.get_kind_display()}
            for e in DosingEvent.current().filter(session=session).order_by("at", "id")
        ],
        "predicted": predicted,
    }


def transition_buttons(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Each next state with whether its guard passes now, and the failed conditions if not."""
    if session.state in states.FINAL:
        return []
    facts = actions.gather_facts(session, now=now, reason="(given)")
    out = []
    for target in states.allowed_targets(session.state):
        if target == states.State.ABORTED:
            continue
        failures = states.check(session.state, target, facts)
        out.append({"to": target.value, "label": target.label, "failures": failures})
    return out


def floor_rows(clinic: Clinic) -> list[dict[str, Any]]:
    """Every active chair of the clinic: state, time in state, last vitals, open alerts, and the
    pump: % given, rate, time remaining. 5 queries, whatever the number of chairs."""
    sessions = list(
        Session.in_clinic(clinic)
        .filter(state__in=[s.value for s in states.ACTIVE])
        .select_related("patient", "dose_order", "clinic")
        .prefetch_related(
            Prefetch("dosing_events", queryset=DosingEvent.current().order_by("at", "id"), to_attr="doses"),
            Prefetch(
                "alerts",
                queryset=Alert.noting_withdrawn(Alert.objects.filter(acknowledged_at__isnull=True)).order_by(
                    *Alert.WORST_FIRST
                ),
                to_attr="open_alerts",
            ),
        )
        .order_by("chair", "id")
    )
    last: dict[int, Observation] = {}
    vitals = (
        Observation.current()
        .filter(session__in=sessions, kind=Kind.VITALS)
        .order_by("session_id", "-observed_at", "-id")
    )
    for o in vitals:
        last.setdefault(o.session_id, o)
    now = timezone.now()
    return [
        {
            "session": s,
            "minutes_in_state": int((now - s.state_changed_at).total_seconds() // 60),
            "vitals": last.get(s.pk),
            "alerts": s.open_alerts,
            "progress": _progress(s, now),
        }
        for s in sessions
    ]


def _progress(session: Session, now: datetime) -> pump.Progress | None:
    """The pump's running totals from the prefetched events (no query of its own)."""
    plan = actions.order_plan(session)
    if plan is None or not session.doses:  # type: ignore[attr-defined]
        return None
    tz = session.clinic.tz
    return pump.progress(plan, [as_dose(e, tz) for e in session.doses], now)  # type: ignore[attr-defined]


def rems_form(session: Session) -> rems.RemsForm:
    """The REMS patient monitoring form of an esketamine session, from its records."""
    patient = session.patient
    proto = actions.session_protocol(session)
    first = actions.observation_from(session, proto)
    bps = tuple(
        rems.BP(o.observed_at, o.systolic_mmhg, o.diastolic_mmhg)
        for o in Observation.current()
        .filter(session=session, kind=Kind.VITALS, systolic_mmhg__isnull=False)
        .order_by("observed_at")
        if o.systolic_mmhg is not None and o.diastolic_mmhg is not None
    )
    devices = list(DosingEvent.current().filter(session=session, kind="device").order_by("at", "id"))
    discharged = session.transitions.filter(to_state=SessionState.DISCHARGED).first()
    checklist, _ = (
        actions.discharge_assessment(session, proto) if session.state == "recovery" else (None, None)
    )
    ready_obs = (
        Observation.current()
        .filter(session=session, kind=Kind.DISCHARGE_CHECK)
        .order_by("observed_at")
        .first()
    )
    sedated = Observation.current().filter(session=session, kind=Kind.MOAAS, score__lt=5).exists()
    dissociated = Observation.current().filter(
        session=session, kind__in=[Kind.CADSS, Kind.CADSS6], score__gt=0
    )
    meds: list[tuple[str, frozenset[str]]] = []
    intake = patient.intakes.order_by("-version").first()
    if intake is not None:
        for m in intake.medications.all():
            meds.append((m.generic_name or m.name, frozenset(m.interaction_classes or [])))
    alerts_rr = Alert.objects.filter(session=session, code__in=["rr_low", "spo2_critical"]).exists()
    sex = patient.get_sex_display()
    facts = rems.RemsFacts(
        patient_name=f"{patient.given_name} {patient.family_name}",
        date_of_birth=patient.date_of_birth,
        sex=sex,
        medications=tuple(meds),
        monitoring_provider=session.created_by.display_name,
        setting=session.clinic.name,
        dose_mg=int(sum((d.mg or 0) for d in devices)),
        lot_numbers=tuple(d.lot_number for d in devices if d.lot_number),
        first_device_at=first,
        monitoring_ended_at=discharged.at if discharged else None,
        ready_to_leave_at=ready_obs.observed_at if ready_obs else None,
        blood_pressures=bps,
        vitals_acceptable_before=_predose_acceptable(session, proto),
        vitals_acceptable_at_end=None if checklist is None else checklist.passed,
        sedation=sedated,
        dissociation=dissociated.exists(),
        respiratory_depression=alerts_rr,
    )
    return rems.build_form(facts)


def _predose_acceptable(session: Session, proto: SessionRules) -> bool | None:
    """Whether the pre-dose vitals passed the protocol's gates when dosing started (None: none taken)."""
    vitals = actions.predose_vitals(session)
    if vitals is None:
        return None
    return not states.gate_failures(vitals, proto.gates, actions.dosing_started_at(session) or timezone.now())


def aldrete_items() -> list[dict[str, Any]]:
    """The modified Aldrete items with their 0-2 anchors (1995 version, clinical.md §3.1 [S40][S41])."""
    anchors = {
        "activity": ("moves 4 limbs", "moves 2 limbs", "moves no limb"),
        "respiration": ("breathes deeply, coughs freely", "dyspnoea or limited breathing", "apnoeic"),
        "circulation": ("BP within 20 mmHg of pre-dose", "20-50 mmHg from pre-dose", "more than 50 mmHg off"),
        "consciousness": ("fully awake", "arousable on calling", "not responding"),
        "spo2": (">92 % on room air", "needs O2 to keep >90 %", "<90 % even with O2"),
    }
    return [{"name": k, "anchors": [(2, a[0]), (1, a[1]), (0, a[2])]} for k, a in anchors.items()]


def padss_items() -> list[dict[str, Any]]:
    """PADSS items after ketamine (Chung 1995, clinical.md §3.2 [S44][S45]); see ``scales.score_padss``."""
    anchors = {
        "vital_signs": ("within 20 % of pre-dose", "20-40 % of pre-dose", "more than 40 % off"),
        "activity_mental_status": (
            "oriented and steady gait",
            "oriented or steady gait",
            "neither",
        ),
        "pain_nausea_vomiting": ("minimal", "moderate", "severe"),
    }
    return [{"name": k, "anchors": [(2, a[0]), (1, a[1]), (0, a[2])]} for k, a in anchors.items()]


CADSS6_LABELS = {n: f"item {n}" for n in scales.CADSS6_ITEMS}


# --- the observation forms -------------------------------------------------------------------
# One set of field names serves the entry forms, the correction form and ``views.observation_data``.


def form_specs() -> dict[str, Any]:
    """What the observation forms offer: items with their anchors, terms, grades, units, routes."""
    return {
        "cadss_items": [
            {"n": n, "name": f"cadss_{n}", "cue": cue}
            for n, cue in enumerate(scales.CADSS_ITEM_CUES, start=1)
        ],
        "cadss_values": [str(v) for v in range(scales.CADSS_ITEM_MAX + 1)],
        "cadss_low": scales.CADSS_ANCHORS[0],
        "cadss_high": scales.CADSS_ANCHORS[scales.CADSS_ITEM_MAX],
        "cadss6_items": [
            {"n": n, "name": f"item_{n}", "cue": scales.CADSS_ITEM_CUES[n - 1]} for n in scales.CADSS6_ITEMS
        ],
        "bprs_items": [
            {"name": f"bprs_{k}", "label": k.replace("_", " ").capitalize()}
            for k in scales.BPRS_POSITIVE_ITEMS
        ],
        "bprs_anchors": [(str(v), text) for v, text in scales.BPRS_ANCHORS.items()],
        "moaas_labels": [(str(v), text) for v, text in sorted(scales.MOAAS_LABELS.items(), reverse=True)],
        "nausea_labels": [(str(v), text) for v, text in scales.NAUSEA_LABELS.items()],
        "ctcae_grades": [(str(g), text) for g, text in observations.CTCAE_GRADES.items()],
        "ae_terms": observations.AE_TERMS,
        "prn_drugs": observations.PRN_SUGGESTIONS,
        "dose_units": observations.DOSE_UNITS,
        "routes": list(observations.ROUTE_LABELS.items()),
        "aldrete_items": [
            {"name": i["name"], "anchors": [(str(v), t) for v, t in i["anchors"]]} for i in aldrete_items()
        ],
        "padss_items": [
            {"name": i["name"], "anchors": [(str(v), t) for v, t in i["anchors"]]} for i in padss_items()
        ],
        "discharge_checks": [
            ("gait_steady", "Steady gait"),
            ("escort_present", "Escort present"),
            ("no_driving_advice_given", "Advised not to drive until the next day"),
        ],
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def form_values(obs: Observation) -> dict[str, str]:  # noqa: PLR0912 - one branch per kind
    """An observation's values under the names its form posts: the correction form starts from them."""
    kind = obs.kind
    out: dict[str, str] = {}
    if kind == Kind.VITALS:
        for name in observations.FIELDS["vitals"]:
            out[name] = _text(getattr(obs, name))
        out["on_oxygen"] = "on" if obs.on_oxygen else ""
    elif kind == Kind.CADSS:
        out |= {f"cadss_{n}": _text(v) for n, v in enumerate(obs.items or [], start=1)}
        out["score"] = _text(obs.score)  # the total shown above the items
    elif kind == Kind.CADSS6:
        out |= {f"item_{n}": _text(v) for n, v in (obs.items or {}).items()}
    elif kind == Kind.BPRS:
        out |= {f"bprs_{k}": _text(v) for k, v in (obs.items or {}).items()}
    elif kind in (Kind.ALDRETE, Kind.PADSS):
        out |= {k: _text(v) for k, v in (obs.items or {}).items()}
    elif kind == Kind.DISCHARGE_CHECK:
        out |= {k: "on" if v else "" for k, v in (obs.items or {}).items()}
        out["text"] = obs.text
    elif kind == Kind.SETTING:
        for k, v in (obs.setting or {}).items():
            out[k] = ("yes" if v else "no") if k == "eye_shade" and v is not None else _text(v)
        out["text"] = obs.text
    elif kind in (Kind.ADVERSE_EVENT, Kind.PRN):
        for name in observations.FIELDS[kind]:
            value = getattr(obs, name)
            out[name] = (
                f"{value.normalize():f}" if name == "dose_value" and value is not None else _text(value)
            )
    elif kind == Kind.NOTE:
        out["text"] = obs.text
    else:
        out["score"] = _text(obs.score)
    return out


def field_errors(kind: str, errors: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Split a form's errors into those shown next to a field of ``kind`` and the rest (shown on top)."""
    placed = {
        *observations.FIELDS.get(kind, ()),
        *(observations.SETTING_KEYS if kind == Kind.SETTING else ()),
        "observed_at",
        "correction_reason",
    }
    at_field = {k: v for k, v in errors.items() if k in placed}
    general = [m for k, msgs in errors.items() if k not in placed for m in msgs]
    return at_field, general
