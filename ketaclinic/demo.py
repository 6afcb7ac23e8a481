"""A demo clinic network for `ketaclinic serve --demo`: two clinics, a user of every role in each,
and about 20 patients with varied histories.

Everything is created through the same actions the pages call, so the demo's records carry audit
entries like real ones. The demo password is printed on start; it is for local trials only.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import Clinic, Membership, Role, User
from ketaclinic.accounts.passwords import DEMO_PASSWORD
from ketaclinic.audit.actions import record

# Printed on every `serve --demo`; demo installations are for local trials only. The password
# validators refuse it for any account (accounts/passwords.py).

CLINICS = (
    ("northside", "Northside Ketamine Clinic", "America/New_York"),
    ("lakeside", "Lakeside Ketamine Clinic", "America/Chicago"),
)

STAFF = (
    # (username stem, role, first, last, credentials)
    ("prescriber", Role.PRESCRIBER, "Priya", "Raman", "MD"),
    ("nurse", Role.NURSE, "Nate", "Okafor", "RN"),
    ("frontdesk", Role.FRONTDESK, "Fran", "Delgado", ""),
    ("admin", Role.ADMIN, "Ada", "Lindqvist", ""),
    ("auditor", Role.AUDITOR, "Otto", "Brandt", ""),
)

CONSENT_BODY = """\
Ketamine treatment: informed consent

Ketamine is used off-label for depression, anxiety, PTSD and chronic pain. During and shortly after
the treatment you may feel detached, dreamlike or "floaty" (dissociation), dizzy or sick, and your
blood pressure may rise. These effects usually fade within one to two hours. You will be monitored
throughout and for at least the observation time your protocol requires.

You must not drive or operate machinery until the next day after a restful sleep, and an adult
must take you home. You may stop treatment at any time.
"""

# name, dose text, daily mg (None: parse from text)
MEDS = {
    "sertraline": ("sertraline", "100 mg daily", None),
    "bupropion": ("Wellbutrin XL", "300 mg daily", None),
    "clonazepam": ("Klonopin", "1 mg twice daily", None),
    "lorazepam": ("lorazepam", "1 mg at night", None),
    "alprazolam": ("Xanax", "0.5 mg three times daily", None),
    "lamotrigine": ("Lamictal", "200 mg daily", None),
    "adderall": ("Adderall", "20 mg every morning", None),
    "levothyroxine": ("Synthroid", "100 mcg daily", None),
    "phenelzine": ("Nardil", "45 mg daily", None),
    "oxycodone": ("OxyContin", "20 mg twice daily", None),
    "gabapentin": ("gabapentin", "300 mg three times daily", None),
    "lisinopril": ("lisinopril", "10 mg daily", None),
    "herbal": ("Calmora herbal blend", "1 capsule daily", None),
    "venlafaxine": ("Effexor XR", "150 mg daily", None),
}

# MRN, given, family, dob, sex, indications, weight (value, unit), height cm, pregnancy,
# history items present, medications, DAST-10 yes-items (1-based), baseline BP/HR, decision
PATIENTS: tuple[dict[str, Any], ...] = (
    dict(
        mrn="N-1001",
        given="Maria",
        family="Lopez",
        dob=date(1984, 3, 2),
        sex="female",
        ind=["trd"],
        weight=("68.5", "kg"),
        height=165,
        preg="not_pregnant",
        hist=[],
        meds=["sertraline"],
        dast=[],
        bp=(122, 78, 72),
        decision="eligible",
    ),
    dict(
        mrn="N-1002",
        given="James",
        family="Carter",
        dob=date(1971, 11, 19),
        sex="male",
        ind=["trd"],
        weight=("212", "lb"),
        height=183,
        preg="not_applicable",
        hist=["hypertension"],
        meds=["lisinopril", "bupropion"],
        dast=[],
        bp=(146, 92, 80),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="N-1003",
        given="Aisha",
        family="Rahman",
        dob=date(1993, 6, 8),
        sex="female",
        ind=["mdd_si", "gad"],
        weight=("59", "kg"),
        height=160,
        preg="not_pregnant",
        hist=[],
        meds=["clonazepam", "sertraline"],
        dast=[],
        bp=(118, 74, 84),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="N-1004",
        given="Daniel",
        family="Kim",
        dob=date(1988, 1, 30),
        sex="male",
        ind=["ptsd"],
        weight=("81", "kg"),
        height=178,
        preg="not_applicable",
        hist=["substance_use_disorder"],
        meds=["venlafaxine"],
        dast=[1, 2, 4, 5],
        bp=(128, 82, 70),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="N-1005",
        given="Helen",
        family="Novak",
        dob=date(1959, 9, 14),
        sex="female",
        ind=["chronic_pain"],
        pain="CRPS, right arm",
        weight=("74", "kg"),
        height=168,
        preg="not_applicable",
        hist=["hypertension"],
        meds=["oxycodone", "gabapentin"],
        dast=[],
        bp=(138, 86, 66),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="N-1006",
        given="Robert",
        family="Feld",
        dob=date(1966, 4, 22),
        sex="male",
        ind=["trd"],
        weight=("90", "kg"),
        height=180,
        preg="not_applicable",
        hist=["aneurysmal_vascular_disease"],
        meds=["lisinopril"],
        dast=[],
        bp=(134, 84, 68),
        decision="not_eligible",
    ),
    dict(
        mrn="N-1007",
        given="Sofia",
        family="Marino",
        dob=date(1999, 12, 3),
        sex="female",
        ind=["gad"],
        weight=("56", "kg"),
        height=158,
        preg="pregnant",
        hist=[],
        meds=[],
        dast=[],
        bp=(110, 70, 88),
        decision=None,
    ),
    dict(
        mrn="N-1008",
        given="Tom",
        family="Whitaker",
        dob=date(1979, 7, 7),
        sex="male",
        ind=["trd"],
        weight=("77", "kg"),
        height=175,
        preg="not_applicable",
        hist=["psychosis"],
        meds=["lamotrigine"],
        dast=[],
        bp=(124, 80, 76),
        decision=None,
    ),
    dict(
        mrn="N-1009",
        given="Grace",
        family="Osei",
        dob=date(1990, 2, 25),
        sex="female",
        ind=["trd", "ptsd"],
        weight=("63", "kg"),
        height=170,
        preg="breastfeeding",
        hist=[],
        meds=["sertraline", "herbal"],
        dast=[],
        bp=(116, 76, 70),
        decision=None,
    ),
    dict(
        mrn="N-1010",
        given="Victor",
        family="Almeida",
        dob=date(1985, 10, 11),
        sex="male",
        ind=["trd"],
        weight=("102", "kg"),
        height=188,
        preg="not_applicable",
        hist=[],
        meds=["adderall", "bupropion"],
        dast=[3],
        bp=(132, 84, 90),
        decision="eligible_with_precautions",
        changed_later=True,
    ),
    dict(
        mrn="N-1011",
        given="Lena",
        family="Schulz",
        dob=date(1975, 5, 18),
        sex="female",
        ind=["trd"],
        weight=("70", "kg"),
        height=172,
        preg="not_pregnant",
        hist=["thyrotoxicosis"],
        meds=["levothyroxine"],
        dast=[],
        bp=(128, 78, 96),
        decision=None,
    ),
    dict(
        mrn="N-1012",
        given="Omar",
        family="Haddad",
        dob=date(2001, 8, 29),
        sex="male",
        ind=["mdd_si"],
        weight=("66", "kg"),
        height=176,
        preg="not_applicable",
        hist=[],
        meds=["alprazolam", "lorazepam"],
        dast=[],
        bp=(120, 72, 82),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="L-2001",
        given="Ruth",
        family="Andersen",
        dob=date(1968, 3, 9),
        sex="female",
        ind=["trd"],
        weight=("154", "lb"),
        height=163,
        preg="not_applicable",
        hist=[],
        meds=["venlafaxine"],
        dast=[],
        bp=(126, 80, 68),
        decision="eligible",
    ),
    dict(
        mrn="L-2002",
        given="Marcus",
        family="Bell",
        dob=date(1982, 12, 1),
        sex="male",
        ind=["ptsd", "gad"],
        weight=("88", "kg"),
        height=182,
        preg="not_applicable",
        hist=["seizure_disorder"],
        meds=["lamotrigine", "clonazepam"],
        dast=[],
        bp=(130, 82, 74),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="L-2003",
        given="Nina",
        family="Petrova",
        dob=date(1995, 4, 16),
        sex="female",
        ind=["trd"],
        weight=("52", "kg"),
        height=155,
        preg="not_pregnant",
        hist=["mania_bipolar"],
        meds=["lamotrigine"],
        dast=[],
        bp=(112, 70, 78),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="L-2004",
        given="Samuel",
        family="Ortiz",
        dob=date(1956, 1, 5),
        sex="male",
        ind=["chronic_pain"],
        pain="diabetic neuropathy",
        weight=("96", "kg"),
        height=177,
        preg="not_applicable",
        hist=["hypertension", "cardiac_disease"],
        meds=["gabapentin", "lisinopril"],
        dast=[],
        bp=(152, 94, 72),
        decision=None,
    ),
    dict(
        mrn="L-2005",
        given="Chloe",
        family="Dubois",
        dob=date(1989, 9, 27),
        sex="female",
        ind=["trd"],
        weight=("61", "kg"),
        height=167,
        preg="not_pregnant",
        hist=[],
        meds=["phenelzine"],
        dast=[],
        bp=(118, 76, 74),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="L-2006",
        given="Ethan",
        family="Brooks",
        dob=date(1997, 6, 12),
        sex="male",
        ind=["other"],
        other="obsessive-compulsive disorder",
        weight=("73", "kg"),
        height=179,
        preg="not_applicable",
        hist=[],
        meds=[],
        dast=[2, 6, 7],
        bp=(124, 78, 70),
        decision=None,
    ),
    dict(
        mrn="L-2007",
        given="Mei",
        family="Tanaka",
        dob=date(1973, 2, 20),
        sex="female",
        ind=["trd"],
        weight=("58", "kg"),
        height=157,
        preg="not_applicable",
        hist=["hepatic_impairment:B"],
        meds=["sertraline"],
        dast=[],
        bp=(120, 74, 66),
        decision="eligible_with_precautions",
    ),
    dict(
        mrn="L-2008",
        given="Peter",
        family="Walsh",
        dob=date(1963, 10, 30),
        sex="male",
        ind=["trd"],
        weight=("84", "kg"),
        height=181,
        preg="not_applicable",
        hist=["intracerebral_haemorrhage"],
        meds=[],
        dast=[],
        bp=(136, 86, 64),
        decision="not_eligible",
    ),
)


def _users(clinic: Clinic, suffix: str) -> dict[str, User]:
    users = {}
    for stem, role, first, last, credentials in STAFF:
        user = User.objects.create_user(
            username=f"{stem}.{suffix}",
            password=DEMO_PASSWORD,
            first_name=first,
            last_name=last,
            credentials=credentials,
        )
        Membership.objects.create(user=user, clinic=clinic, role=role)
        record(
            "user.create",
            clinic=clinic,
            obj=user,
            detail={"username": user.username, "role": role, "via": "demo"},
        )
        users[stem] = user
    return users


def _history(codes: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in codes:
        code, _, grade = entry.partition(":")
        out[code] = {"present": True, "note": "reported at intake", **({"grade": grade} if grade else {})}
    return out


def _patient(spec: dict[str, Any], clinic: Clinic, staff: dict[str, User], rng: random.Random) -> None:
    from ketaclinic.patients import actions, intake_actions

    value, unit = spec["weight"]
    first_weighed = timezone.now() - timedelta(days=rng.randint(60, 200))
    patient = actions.register_patient(
        user=staff["frontdesk"],
        clinic=clinic,
        data={
            "mrn": spec["mrn"],
            "given_name": spec["given"],
            "family_name": spec["family"],
            "date_of_birth": spec["dob"],
            "sex": spec["sex"],
            "indications": spec["ind"],
            "chronic_pain_type": spec.get("pain", ""),
            "indication_other": spec.get("other", ""),
            "phone": f"555-01{rng.randint(10, 99)}",
            "email": f"{spec['given'].lower()}@example.org",
            "emergency_contact_name": "Sam " + spec["family"],
            "emergency_contact_phone": "555-0199",
            "emergency_contact_relation": "sibling",
            "escort_name": "Alex " + spec["family"],
            "escort_phone": "555-0142",
            "height": spec["height"],
            "height_unit": "cm",
            "allergies": rng.choice(["None known", "None known", "Penicillin (rash)", "Latex"]),
            "pregnancy_status": spec["preg"],
            "weight": value,
            "weight_unit": unit,
            "weight_measured_at": first_weighed,
        },
    )
    # A weight trend: a few later measurements drifting by up to 2 %.
    for weeks in (8, 4, 1):
        drift = Decimal(str(round(rng.uniform(-0.02, 0.02), 3)))
        actions.record_weight(
            user=staff["nurse"],
            clinic=clinic,
            patient=patient,
            value=(Decimal(value) * (1 + drift)).quantize(Decimal("0.1")),
            unit=unit,
            measured_at=timezone.now() - timedelta(weeks=weeks, hours=rng.randint(0, 48)),
        )
    systolic, diastolic, heart_rate = spec["bp"]
    intake_data = {
        "history": _history(spec["hist"]),
        "medications": [{"name": MEDS[m][0], "dose_text": MEDS[m][1]} for m in spec["meds"]],
        "dast10_answers": [(i + 1 in spec["dast"]) != (i == 2) for i in range(10)],
        "substance_use_notes": "See DAST-10." if spec["dast"] else "",
        "baseline_systolic_mmhg": systolic,
        "baseline_diastolic_mmhg": diastolic,
        "baseline_heart_rate_bpm": heart_rate,
    }
    intake_actions.save_intake(user=staff["nurse"], clinic=clinic, patient=patient, data=intake_data)
    if spec["decision"]:
        findings = intake_actions.evaluate_current(patient, user=staff["prescriber"], clinic=clinic)
        reasons = {
            f.code: "Reviewed with the patient; plan adjusted accordingly."
            for f in findings
            if f.severity in ("absolute", "review", "interaction")
        }
        intake_actions.sign_screening(
            user=staff["prescriber"],
            clinic=clinic,
            patient=patient,
            decision=spec["decision"],
            item_reasons=reasons,
            reason="Reviewed intake, history and medications with the patient.",
        )
    if spec.get("changed_later"):
        # A medication change after signing invalidates the screening; the chart says so.
        intake_data["medications"] = [
            *intake_data["medications"],
            {"name": "Ritalin", "dose_text": "10 mg twice daily"},
        ]
        intake_data["change_reason"] = "Started methylphenidate (outside prescriber)"
        intake_actions.save_intake(user=staff["nurse"], clinic=clinic, patient=patient, data=intake_data)
    if spec["decision"] in ("eligible", "eligible_with_precautions"):
        text = clinic.consent_texts.order_by("-effective_from").get()
        actions.record_consent(
            user=staff["nurse"],
            clinic=clinic,
            patient=patient,
            text=text,
            signed_by_name=f"{spec['given']} {spec['family']}",
            signed_at=timezone.now() - timedelta(days=3),
            witness=staff["prescriber"],
        )


# --- steps the demo and bench/session_bench.py share: the real actions, in the order a clinic takes them


def signed_iv_order(
    prescriber: User, clinic: Clinic, patient: Any, protocol: Any, *, baseline_score: str
) -> Any:
    """A signed six-session plan (MADRS, response at 50 %) and its signed order: 0.5 mg/kg over 40 min."""
    from ketaclinic.protocols import actions as dosing

    plan = dosing.create_plan(
        prescriber,
        clinic,
        patient,
        protocol=protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
        baseline_score=baseline_score,
        sign=True,
    )
    return dosing.sign_order(prescriber, clinic, plan, {"dose_mg_per_kg": "0.5", "duration_min": "40"})


def double_check(nurse: User, clinic: Clinic, order: Any) -> None:
    """The nurse's double check of ``order``: the patient's current weight and the order's numbers."""
    from ketaclinic.protocols import actions as dosing

    weight = order.patient.current_weight()
    dosing.verify_order(
        nurse,
        clinic,
        order,
        weight_value=weight.entered_value,
        weight_unit=weight.entered_unit,
        dose_mg=order.dose_mg,
        rate_ml_per_h=order.rate_ml_per_h,
    )


def check_in(nurse: User, scheduler: User, clinic: Clinic, order: Any, *, chair: str, at: Any) -> Any:
    """A session booked on ``chair`` at ``at`` for ``order``; checked in with the escort confirmed if now."""
    from ketaclinic.infusions import actions as chairs

    session = chairs.schedule_session(
        user=scheduler, clinic=clinic, patient=order.patient, chair=chair, scheduled_at=at
    )
    session = chairs.link_order(user=nurse, clinic=clinic, session=session, order=order)
    if at <= timezone.now():
        chairs.transition(user=nurse, clinic=clinic, session=session, to="checked_in")
        chairs.confirm_escort(
            user=nurse, clinic=clinic, session=session, escort_name=order.patient.escort_name
        )
    return session


def start_infusion(nurse: User, clinic: Clinic, session: Any, vitals: dict[str, Any]) -> None:
    """Pre-dose vitals, the pre-dose assessment, and the start of the infusion at the order's rate."""
    from ketaclinic.infusions import actions as chairs

    chairs.record_observation(
        user=nurse, clinic=clinic, session=session, kind="vitals", data=vitals, idempotency_key="pre-1"
    )
    chairs.transition(user=nurse, clinic=clinic, session=session, to="predose_done")
    chairs.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind="start", idempotency_key="start-1"
    )


def _dosing(clinic: Clinic, staff: dict[str, User]) -> list[Any]:
    """A drug library, two protocols, and signed plans with orders for the eligible patients (returned)."""
    from ketaclinic.patients.models import Patient
    from ketaclinic.protocols import actions as dosing

    dosing.ensure_products()
    dosing.create_default_library(staff["admin"], clinic)
    iv = dosing.copy_protocol(
        staff["admin"], clinic, source_template="iv-racemic-depression", name="IV ketamine for depression"
    )
    dosing.copy_protocol(
        staff["admin"], clinic, source_template="esketamine-nasal-trd", name="Esketamine (Spravato)"
    )
    eligible = [
        patient
        for patient in Patient.objects.filter(clinic=clinic).order_by("mrn")
        if "trd" in patient.indications and (s := patient.latest_screening()) is not None and s.is_current()
    ]
    orders = []
    for i, patient in enumerate(eligible[:3]):
        order = signed_iv_order(staff["prescriber"], clinic, patient, iv, baseline_score=str(30 + i))
        orders.append(order)
        if i == 0 and patient.current_weight() is not None:
            # The first order is double-checked by the nurse: ready for the chair.
            double_check(staff["nurse"], clinic, order)
    return orders


# Today's chairs: the patient whose order was double-checked is mid-infusion (a heart-rate alert open);
# the next is checked in, her order awaiting the nurse's double check; any third is due this afternoon.
# Times are now: the infusion runs on the demo's clock, and the worker raises overdue alerts if nobody
# records vitals, as it would in a clinic.
DEMO_VITALS = {"systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 74, "spo2_pct": 98}


def _chairs(clinic: Clinic, staff: dict[str, User], orders: list[Any]) -> None:
    from ketaclinic.infusions import actions as chair

    nurse, desk = staff["nurse"], staff["frontdesk"]
    now = timezone.now()
    sessions = [
        check_in(nurse, desk, clinic, order, chair=str(n), at=now + timedelta(hours=4 if n == 3 else 0))
        for n, order in enumerate(orders, start=1)
    ]
    if not sessions:
        return
    dosing = sessions[0]
    _ledger(clinic, staff, dosing)
    start_infusion(nurse, clinic, dosing, DEMO_VITALS)

    def observe(kind: str, key: str, **data: Any) -> None:
        chair.record_observation(
            user=nurse, clinic=clinic, session=dosing, kind=kind, data=data, idempotency_key=f"demo-{key}"
        )

    observe("setting", "setting", setting={"music": "calm playlist", "eye_shade": True, "lighting": "dimmed"})
    observe(
        "vitals", "v1", **(DEMO_VITALS | {"systolic_mmhg": 138, "diastolic_mmhg": 84, "heart_rate_bpm": 116})
    )
    observe("moaas", "m1", score=4)


def _ledger(clinic: Clinic, staff: dict[str, User], session: Any) -> None:
    """The controlled-substance ledger: a registration, a safe, 20 mL vials and nasal devices
    received by invoice, the initial inventory, 5 mL drawn for the running infusion, and a daily
    count that finds one vial 0.5 mL short (an open discrepancy on the admin's dashboard)."""
    from ketaclinic.ledger import actions as ledger
    from ketaclinic.protocols.actions import ensure_products

    admin, nurse, prescriber = staff["admin"], staff["nurse"], staff["prescriber"]

    def signed(user: User) -> ledger.Signature:
        return ledger.Signature(user.username, DEMO_PASSWORD)

    today = timezone.localdate()
    ledger.add_registration(
        user=admin,
        clinic=clinic,
        number="BK1234563" if clinic.slug == "northside" else "BL7654329",
        registrant_name=f"{clinic.name} (demo)",
        address="100 Demo Street",
        schedules="2 2N 3 3N 4 5",
        expires_on=today + timedelta(days=500),
    )
    safe = ledger.add_location(
        user=admin, clinic=clinic, name="Drug safe", kind="safe", keyholders=[admin, nurse, prescriber]
    )
    products = ensure_products()
    vials = ledger.add_product(
        user=admin, clinic=clinic, product=products["ketamine-10"], ndc="42023-113-10", container_ml="20"
    )
    devices = ledger.add_product(
        user=admin, clinic=clinic, product=products["esketamine-28"], ndc="50458-028-02"
    )
    ledger.record_count(
        user=admin,
        clinic=clinic,
        location=safe,
        kind="initial",
        business_time="opening",
        counted={},
        witness=signed(nurse),
    )
    for product, n, lot in ((vials, 4, "DEMO-K1"), (devices, 6, "DEMO-E1")):
        ledger.receive(
            user=admin,
            clinic=clinic,
            invoice_number=f"DEMO-{lot}",
            supplier_name="Demo Pharma Distribution",
            supplier_address="1 Wholesale Way",
            supplier_registration="RA1234563",
            received_on=today,
            product=product,
            lot_number=lot,
            expires_on=today + timedelta(days=300),
            containers_ordered=n,
            containers_received=n,
            location=safe,
            witness=signed(nurse),
        )
    first, second = safe.containers.filter(product=vials).order_by("number")[:2]
    ledger.draw(user=nurse, clinic=clinic, session=session, container=first, ml="5")
    found = {c.pk: ("1" if c.product.is_device else str(c.balance_ml)) for c in safe.containers.all()}
    found[second.pk] = "19.5"
    ledger.record_count(
        user=nurse, clinic=clinic, location=safe, kind="daily", counted=found, witness=signed(prescriber)
    )


def seed() -> bool:
    """Create the demo network once. Returns False when it is already there."""
    if Clinic.objects.filter(slug=CLINICS[0][0]).exists():
        return False
    rng = random.Random(20261121)  # noqa: S311  (the same demo every time; not security)
    with transaction.atomic():
        for slug, name, tz in CLINICS:
            clinic = Clinic.objects.create(slug=slug, name=name, time_zone=tz)
            # Seeded in the clinic's zone, as a request of its staff would be: "today" is the
            # clinic's (a receipt dated by the server's date is in the future before its midnight).
            with timezone.override(clinic.tz):
                _clinic(clinic, slug, rng)
    return True


def _clinic(clinic: Clinic, slug: str, rng: random.Random) -> None:
    from ketaclinic.patients import actions

    record("clinic.create", clinic=clinic, obj=clinic, detail={"name": clinic.name, "via": "demo"})
    staff = _users(clinic, slug[:5])
    actions.create_consent_text(
        user=staff["admin"],
        clinic=clinic,
        title="Ketamine treatment consent",
        version="1.0",
        body=CONSENT_BODY,
        effective_from=timezone.localdate() - timedelta(days=365),
    )
    for spec in PATIENTS:
        if spec["mrn"][0] == slug[0].upper():
            _patient(spec, clinic, staff, rng)
    _chairs(clinic, staff, _dosing(clinic, staff))


def logins_text() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for slug, name, _tz in CLINICS:
        users = ", ".join(f"{stem}.{slug[:5]}" for stem, *_ in STAFF)
        lines.append(f"  {name}: {users}")
    return "\n".join(lines)
