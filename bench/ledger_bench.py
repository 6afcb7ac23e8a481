"""Benchmark the controlled-substance ledger over a year of a busy clinic: 20 chairs, 40 sessions a
day, 365 days (14,600 sessions), on SQLite and on PostgreSQL.

Run it from the repository root::

    .venv/bin/python bench/ledger_bench.py                 # a year, SQLite then PostgreSQL
    .venv/bin/python bench/ledger_bench.py --days 30 --db sqlite
    .venv/bin/python bench/ledger_bench.py --quick         # 3 days, SQLite (the smoke test)

How the year is made
--------------------
A fresh database (SQLite in a temporary ``KETACLINIC_DATA_DIR``; PostgreSQL as the database
``ketaclinic_bench_ledger``, dropped and created again) is migrated. Through the real actions: a
clinic, its staff, one patient fully prepared with a signed, double-checked IV order (35 mg over
40 min from 10 mg/mL), the ledger's registration, safe and 20 mL vials, and the year's vials
received by invoice (one per four sessions). Then:

1. **the first day through the actions**: 40 sessions, each drawn for (``ledger.actions.draw``,
   5 mL), its pump started and stopped (``infusions`` dosing events), and closed out with a
   witnessed waste (``ledger.actions.close_out``). Timed: sessions closed out per second of the
   draw + close-out actions (the pump events are not in the figure);
2. **the rest of the year written directly**, in the shape the actions write (sessions on that
   order, their pump events, draw/administered/waste entries hash-chained in order, container
   balances, close-out records, one daily count a day, and a discrepancy in one session of 50), in
   bulk, untimed: what is measured is reading a year, not writing it.

What is measured (wall clock, ``time.perf_counter``, each the best of ``--repeat`` runs)
----------------------------------------------------------------------------------------
- ``ledger verify`` of the whole year: the chain, every container's balance against its entries,
  and every session's close-out against its entries (the year's reconciliation);
- the administrations report for the year (every session: patient, containers, drawn,
  administered, wasted) as the inspection page's rows and as CSV through the real view;
- the inventories report (every count line) as CSV through the view;
- the diversion signals for the year (the per-person tests);
- the ledger dashboard.

No peer exists for these figures; the load average is printed before and after each database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/ketaclinic_bench_ledger"
SESSIONS_PER_DAY = 40
CHAIRS = 20
ML_PER_SESSION = "5"
PASSWORD = "bench-password-2026"  # noqa: S105 - a throwaway bench database


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    import django

    django.setup()


def _world(days: int) -> dict[str, Any]:
    from datetime import date, timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from ketaclinic import demo
    from ketaclinic.accounts.models import Clinic, Membership, User
    from ketaclinic.ledger import actions as ledger
    from ketaclinic.patients import actions as patients
    from ketaclinic.patients import intake_actions
    from ketaclinic.protocols import actions as protocols

    call_command("migrate", interactive=False, verbosity=0)
    clinic = Clinic.objects.create(name="Bench Clinic", slug="bench", time_zone="America/New_York")
    # The clinic's day, as its staff's requests see it (after UTC midnight the server's date is
    # the clinic's tomorrow, and a receipt dated by it is refused as in the future).
    timezone.activate(clinic.tz)
    staff = {}
    for name, role in (
        ("admin", "admin"),
        ("nurse", "nurse"),
        ("nurse2", "nurse"),
        ("prescriber", "prescriber"),
    ):
        staff[name] = User.objects.create_user(username=name, password=PASSWORD, first_name=name.title())
        Membership.objects.create(user=staff[name], clinic=clinic, role=role)
    admin, nurse, prescriber = staff["admin"], staff["nurse"], staff["prescriber"]
    text = patients.create_consent_text(
        user=admin, clinic=clinic, title="Consent", version="1", body="Bench consent text.",
        effective_from=timezone.localdate() - timedelta(days=30),
    )  # fmt: skip
    protocols.ensure_products()
    protocols.create_default_library(admin, clinic)
    protocol = protocols.copy_protocol(admin, clinic, source_template="iv-racemic-depression", name="IV")
    patient = patients.register_patient(
        user=nurse,
        clinic=clinic,
        data={
            "mrn": "B-0001", "given_name": "Bench", "family_name": "Patient",
            "date_of_birth": date(1980, 1, 1), "sex": "male", "indications": ["trd"], "escort_name": "Escort",
            "height": "172", "height_unit": "cm", "pregnancy_status": "not_applicable", "weight": "70",
            "weight_unit": "kg",
        },
    )  # fmt: skip
    intake_actions.save_intake(
        user=nurse, clinic=clinic, patient=patient,
        data={"history": {}, "medications": [], "dast10_answers": [False] * 10},
    )  # fmt: skip
    findings = intake_actions.evaluate_current(patient, user=prescriber, clinic=clinic)
    intake_actions.sign_screening(
        user=prescriber, clinic=clinic, patient=patient, decision="eligible",
        item_reasons={f.code: "Reviewed." for f in findings if f.severity in ("absolute", "review", "interaction")},  # noqa: E501
        reason="Bench patient.",
    )  # fmt: skip
    patients.record_consent(
        user=nurse, clinic=clinic, patient=patient, text=text, signed_by_name="Bench Patient",
        signed_at=timezone.now(), witness=prescriber,
    )  # fmt: skip
    order = demo.signed_iv_order(prescriber, clinic, patient, protocol, baseline_score="30")
    demo.double_check(nurse, clinic, order)
    order.refresh_from_db()
    sign = ledger.Signature("prescriber", PASSWORD)
    ledger.add_registration(
        user=admin, clinic=clinic, number="BB1234563", registrant_name="Bench Clinic",
        address="1 Bench St", schedules="2 2N 3 3N 4 5",
        expires_on=timezone.localdate() + timedelta(days=700),
    )  # fmt: skip
    safe = ledger.add_location(
        user=admin, clinic=clinic, name="Safe", kind="safe", keyholders=list(staff.values())
    )
    vials = ledger.add_product(
        user=admin, clinic=clinic, product=protocols.ensure_products()["ketamine-10"], ndc="42023-113-10",
        container_ml="20",
    )  # fmt: skip
    needed = days * SESSIONS_PER_DAY // 4 + 2
    for batch in range(0, needed, 500):
        n = min(500, needed - batch)
        ledger.receive(
            user=admin, clinic=clinic, invoice_number=f"INV-{batch}", supplier_name="Bench Pharma",
            supplier_address="1 Way", supplier_registration="RA1234563", received_on=timezone.localdate(),
            product=vials, lot_number=f"LOT-{batch}", expires_on=timezone.localdate() + timedelta(days=400),
            containers_ordered=n, containers_received=n, location=safe, witness=sign,
        )  # fmt: skip
    return {"clinic": clinic, "staff": staff, "patient": patient, "order": order, "safe": safe, "sign": sign}


def _session(world: dict[str, Any], at: Any, chair: int, state: str) -> Any:
    from ketaclinic.infusions.models import Session

    return Session(
        clinic=world["clinic"], patient=world["patient"], chair=f"Chair {chair}", dose_order=world["order"],
        scheduled_at=at, state=state, state_changed_at=at, created_by=world["staff"]["nurse"],
    )  # fmt: skip


def _pump(session: Any, at: Any, nurse: Any) -> list[Any]:
    from datetime import timedelta
    from decimal import Decimal

    from ketaclinic.infusions.models import DosingEvent

    return [
        DosingEvent(session=session, kind="start", at=at, recorded_by=nurse, rate_ml_per_h=Decimal("5.3"),
                    idempotency_key="start"),
        DosingEvent(session=session, kind="stop", at=at + timedelta(minutes=45), recorded_by=nurse,
                    idempotency_key="stop"),
    ]  # fmt: skip


def first_day(world: dict[str, Any]) -> float:
    """Sessions closed out per second through the real draw and close-out actions."""
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.infusions.models import DosingEvent, Session
    from ketaclinic.ledger import actions as ledger
    from ketaclinic.ledger.models import Container

    nurse = world["staff"]["nurse"]
    start = timezone.now() - timedelta(hours=3)
    sessions = Session.objects.bulk_create(
        [_session(world, start, n % CHAIRS + 1, "predose_done") for n in range(SESSIONS_PER_DAY)]
    )
    vials = list(Container.objects.filter(clinic=world["clinic"]).order_by("number")[: SESSIONS_PER_DAY // 4])
    timed = 0.0
    for i, session in enumerate(sessions):
        t0 = time.perf_counter()
        ledger.draw(
            user=nurse, clinic=world["clinic"], session=session, container=vials[i // 4], ml=ML_PER_SESSION
        )
        timed += time.perf_counter() - t0
        DosingEvent.objects.bulk_create(_pump(session, start, nurse))
        Session.objects.filter(pk=session.pk).update(state="recovery")
        session.refresh_from_db()
        t0 = time.perf_counter()
        ledger.close_out(
            user=nurse, clinic=world["clinic"], session=session, wasted="1.5", witness=world["sign"]
        )
        timed += time.perf_counter() - t0
    return len(sessions) / timed


def rest_of_year(world: dict[str, Any], days: int) -> int:
    """Write days 2..N directly, in the shape the actions write, with the chain computed in order."""
    from datetime import timedelta
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from ketaclinic.audit import chain
    from ketaclinic.infusions.models import DosingEvent, Session
    from ketaclinic.ledger.models import (
        HASHED_FIELDS,
        Container,
        Count,
        CountLine,
        Discrepancy,
        LedgerEntry,
        LedgerHead,
        SessionReconciliation,
    )

    clinic, staff = world["clinic"], world["staff"]
    nurses = [staff["nurse"], staff["nurse2"]]
    head = LedgerHead.objects.get(clinic=clinic)
    vials = list(Container.objects.filter(clinic=clinic, balance_mg=200).order_by("number"))
    seq, prev = head.seq, head.hash
    drawn, given = Decimal("50.00"), Decimal("35.00")
    written = 0
    vial = vials[0]
    for day in range(1, days):
        with transaction.atomic():
            at = timezone.now() - timedelta(days=day, hours=4)
            sessions = Session.objects.bulk_create(
                [_session(world, at, n % CHAIRS + 1, "discharged") for n in range(SESSIONS_PER_DAY)]
            )
            events, entries, recs, discrepancies = [], [], [], []
            for n, session in enumerate(sessions):
                nurse = nurses[n % 2]
                vial = vials.pop(0) if n % 4 == 0 else vial
                short = n == 7 and day % 2 == 0  # one session in 80 wastes less than it should
                wasted = Decimal("10.00") if short else Decimal("15.00")
                events += _pump(session, at, nurse)
                vial.balance_mg -= drawn
                vial.balance_ml -= Decimal("5.00")
                rows = (
                    ("draw", vial, drawn, Decimal("5.00"), vial.balance_mg, vial.balance_ml, None),
                    ("administered", None, given, None, None, None, None),
                    ("waste", None, wasted, wasted / 10, None, None, staff["prescriber"]),
                )
                for kind, container, mg, ml, bal_mg, bal_ml, witness in rows:
                    seq += 1
                    e = LedgerEntry(
                        clinic=clinic, seq=seq, at=at + timedelta(minutes=n), kind=kind, container=container,
                        session=session, patient_id=session.patient_id, dose_order_id=session.dose_order_id,
                        actor=nurse, witness=witness, mg=mg, ml=ml, balance_mg=bal_mg, balance_ml=bal_ml,
                        prev_hash=prev,
                    )  # fmt: skip
                    e.hash = prev = chain.entry_hash(e.chain_fields(), prev, HASHED_FIELDS)
                    entries.append(e)
                if vial.balance_mg == 0:
                    vial.status = "empty"
                unaccounted = drawn - given - wasted
                recs.append(
                    SessionReconciliation(
                        session=session, drawn_mg=drawn, administered_mg=given, wasted_mg=wasted,
                        returned_mg=Decimal("0.00"), tolerance_mg=Decimal("1.00"), unaccounted_mg=unaccounted,
                        status="discrepancy" if short else "balanced", reconciled_by=nurse,
                        witness=staff["prescriber"], reconciled_at=at + timedelta(hours=2),
                    )
                )  # fmt: skip
                if short:
                    discrepancies.append(
                        Discrepancy(
                            clinic=clinic, kind="session", session=session, staff=nurse, expected_mg=drawn,
                            found_mg=drawn - unaccounted, opened_at=at + timedelta(hours=2),
                            description=f"Session {session.pk}: {unaccounted} mg unaccounted for.",
                        )
                    )  # fmt: skip
            DosingEvent.objects.bulk_create(events)
            LedgerEntry.objects.bulk_create(entries, batch_size=500)
            SessionReconciliation.objects.bulk_create(recs)
            Discrepancy.objects.bulk_create(discrepancies)
            touched = {e.container_id: e.container for e in entries if e.container is not None}
            Container.objects.bulk_update(list(touched.values()), ["balance_mg", "balance_ml", "status"])
            count = Count.objects.create(
                clinic=clinic, location=world["safe"], kind="daily", taken_at=at + timedelta(hours=10),
                counted_by=nurses[0], witness=staff["prescriber"], ledger_seq=seq,
            )  # fmt: skip
            CountLine.objects.bulk_create(
                [CountLine(count=count, container=c, expected_mg=c.balance_mg, counted_mg=c.balance_mg,
                           counted_ml=c.balance_ml) for c in vials[:10]]
            )  # fmt: skip
            LedgerHead.objects.filter(clinic=clinic).update(seq=seq, hash=prev)
            written += len(sessions)
    return written


def measure(days: int, repeat: int) -> dict[str, Any]:
    """Build the year in this (prepared) environment and time its reads."""
    _django()
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from ketaclinic.ledger import queries
    from ketaclinic.ledger.verify import verify_clinic

    t0 = time.perf_counter()
    world = _world(days)
    per_second = first_day(world)
    written = rest_of_year(world, days) + SESSIONS_PER_DAY
    build_s = time.perf_counter() - t0
    clinic = world["clinic"]
    today = timezone.localtime(timezone.now(), clinic.tz).date()
    first = today - timedelta(days=days)
    client = Client(SERVER_NAME="localhost")
    client.force_login(world["staff"]["admin"])
    year = {"from": first.isoformat(), "to": today.isoformat()}

    def best(fn: Any) -> tuple[float, Any]:
        times, out = [], None
        for _ in range(repeat):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    verify_s, (entries, findings) = best(lambda: verify_clinic(clinic))
    rows_s, (_, rows) = best(lambda: queries.report(clinic, "administrations", first, today))
    csv_s, response = best(
        lambda: client.get("/ledger/reports/", {**year, "kind": "administrations", "format": "csv"})
    )
    inv_s, inv = best(
        lambda: client.get("/ledger/reports/", {**year, "kind": "inventories", "format": "csv"})
    )
    signals_s, found = best(lambda: queries.signals(clinic, first, today))
    home_s, home = best(lambda: client.get("/ledger/"))
    return {
        "sessions": written,
        "entries": entries,
        "findings": [f.message for f in findings],
        "build_s": round(build_s, 1),
        "actions_sessions_per_s": round(per_second, 1),
        "verify_s": round(verify_s, 3),
        "administrations_rows": len(rows),
        "administrations_rows_s": round(rows_s, 3),
        "administrations_csv_s": round(csv_s, 3),
        "administrations_csv_bytes": len(response.content),
        "inventories_csv_s": round(inv_s, 3),
        "inventories_csv_status": inv.status_code,
        "signals_s": round(signals_s, 3),
        "signals_flagged": [s.user.username for s in found.staff if s.flagged],
        "dashboard_s": round(home_s, 3),
        "dashboard_status": home.status_code,
        "administrations_csv_status": response.status_code,
    }


# --- the harness ------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(db: str, days: int, repeat: int, postgres_url: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["KETACLINIC_DATA_DIR"] = tempfile.mkdtemp(prefix="ketaclinic-ledger-bench-")
    if db == "postgres":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from session_bench import _drop_postgres, _recreate_postgres

        _recreate_postgres(postgres_url)
        env["DATABASE_URL"] = postgres_url
    try:
        done = subprocess.run(  # noqa: S603 - this very script, with our own arguments
            [sys.executable, str(Path(__file__).resolve()), "_measure", str(days), str(repeat)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
    finally:
        if db == "postgres":
            _drop_postgres(postgres_url)
    if done.returncode != 0:
        raise SystemExit(f"ledger bench on {db} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["administrations_csv_status"] != 200 or result["dashboard_status"] != 200:
        raise SystemExit(f"ledger bench on {db}: the pages did not answer 200: {result}")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        print(json.dumps(measure(int(argv[1]), int(argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--quick", action="store_true", help="3 days, SQLite, one repeat (the smoke test)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.db, args.repeat = 3, "sqlite", 1
    results = {}
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        before = _load()
        r = run(db, args.days, args.repeat, args.postgres_url)
        r["load_before"], r["load_after"] = before, _load()
        results[db] = r
        print(f"== {db}: {r['sessions']} sessions over {args.days} days, {r['entries']} ledger entries "
              f"(built in {r['build_s']} s; load {r['load_before']} -> {r['load_after']})")  # fmt: skip
        print(f"  draw + close-out through the actions: {r['actions_sessions_per_s']} sessions/s")
        print(f"  ledger verify (chain, balances, every close-out): {r['verify_s']} s"
              f" -> {'intact' if not r['findings'] else r['findings'][:3]}")  # fmt: skip
        print(f"  administrations report, {r['administrations_rows']} rows: {r['administrations_rows_s']} s;"
              f" as CSV through the view: {r['administrations_csv_s']} s"
              f" ({r['administrations_csv_bytes']} bytes)")  # fmt: skip
        flagged = ", ".join(r["signals_flagged"]) or "nobody"
        print(f"  inventories CSV: {r['inventories_csv_s']} s; diversion signals: {r['signals_s']} s"
              f" (flagged: {flagged}); dashboard: {r['dashboard_s']} s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
