"""Reads of the ledger that write nothing: the discharge check, the stock and the dashboard, the
inspection reports, and the diversion signals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count as CountOf
from django.db.models import Q, QuerySet

from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.models import AuditEntry
from ketaclinic.infusions.models import DosingEvent, Session, SessionState
from ketaclinic.ledger import rules
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    Container,
    Count,
    CountKind,
    CountLine,
    Discrepancy,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
    LossReport,
    Receipt,
    SessionReconciliation,
    StockProduct,
)

ENDED = (SessionState.RECOVERY, SessionState.DISCHARGED, SessionState.ABORTED)


def keeps_ledger_for(session: Session) -> bool:
    """The clinic stocks the product of the session's order in the ledger."""
    order = session.dose_order
    if order is None:
        return False
    return StockProduct.objects.filter(clinic_id=session.clinic_id, product_id=order.product_id).exists()


def live_draws(session: Session) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(session=session, kind=EntryKind.DRAW, reversed_by__isnull=True)


def closeout_problems(session: Session) -> list[str]:
    """Why ``session`` may not be discharged yet as far as its drug goes (registered with
    ``infusions.closeout``): drug drawn and not closed out, or drug given that was never drawn."""
    if not keeps_ledger_for(session):
        return []
    draws = list(live_draws(session).values_list("mg", flat=True))
    if not draws:
        if DosingEvent.current().filter(session=session).exists():
            return [
                "No drug was drawn for this session in the controlled-substance ledger: record the draw "
                "and the waste on the session's Drug (ledger) page."
            ]
        return []
    if not SessionReconciliation.objects.filter(session=session).exists():
        return [
            f"The drug drawn for this session ({sum(draws, rules.ZERO)} mg) is not closed out: record "
            "what was wasted, with a witness, on the session's Drug (ledger) page."
        ]
    return []


# ----- the dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StockLine:
    product: StockProduct
    containers: int
    sealed: int
    balance_mg: Decimal
    balance_ml: Decimal | None


def stock(clinic: Clinic) -> list[StockLine]:
    by_product: dict[int, list[Container]] = defaultdict(list)
    for c in Container.in_clinic(clinic).exclude(status__in=CLOSED_STATUSES):
        by_product[c.product_id].append(c)
    lines = []
    for product in StockProduct.in_clinic(clinic):
        cs = by_product.get(product.pk, [])
        ml = None if product.is_device else sum((c.balance_ml or rules.ZERO for c in cs), rules.ZERO)
        lines.append(
            StockLine(
                product=product,
                containers=len(cs),
                sealed=sum(1 for c in cs if c.status == "sealed"),
                balance_mg=sum((c.balance_mg for c in cs), rules.ZERO),
                balance_ml=ml,
            )
        )
    return lines


def awaiting_closeout(clinic: Clinic) -> list[Session]:
    """Sessions with drug drawn and not closed out, oldest first; ``ended`` marks those whose
    dosing is over (their drug should be closed out now)."""
    sessions = list(
        Session.in_clinic(clinic)
        .filter(ledger_entries__kind=EntryKind.DRAW, drug_reconciliation__isnull=True)
        .select_related("patient")
        .distinct()
        .order_by("scheduled_at", "pk")
    )
    for s in sessions:
        s.ended = s.state in ENDED  # type: ignore[attr-defined]
    return sessions


def open_discrepancies(clinic: Clinic) -> QuerySet[Discrepancy]:
    return (
        Discrepancy.in_clinic(clinic)
        .filter(status=DiscrepancyStatus.OPEN)
        .select_related("staff", "container", "session__patient")
        .order_by("opened_at", "pk")
    )


def open_losses(clinic: Clinic) -> QuerySet[LossReport]:
    return LossReport.in_clinic(clinic).filter(
        Q(notified_at__isnull=True) | Q(form_106_filed_at__isnull=True)
    )


def last_counts(clinic: Clinic) -> dict[str, Count | None]:
    counts = Count.in_clinic(clinic)
    return {
        "daily": counts.filter(kind=CountKind.DAILY).first(),
        "inventory": counts.filter(kind__in=(CountKind.INITIAL, CountKind.BIENNIAL)).first(),
    }


def inventory_due(clinic: Clinic, today: date) -> date | None:
    """When the next biennial inventory is due (two years after the last), or None with none yet."""
    last = last_counts(clinic)["inventory"]
    if last is None:
        return None
    return last.taken_at.date() + timedelta(days=rules.BIENNIAL_DAYS)


# ----- reports an inspector asks for ------------------------------------------------------------

REPORTS = {
    "receipts": "Receipts",
    "administrations": "Administrations and wastage",
    "inventories": "Inventories and counts",
    "disposals": "Destructions and reverse distribution",
    "losses": "Thefts and significant losses",
    "entries": "Every ledger entry",
}


def day_range(clinic: Clinic, first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time.min, tzinfo=clinic.tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=clinic.tz)
    return start, end


def _who(user: User | None) -> str:
    if user is None:
        return ""
    initials = "".join(part[0] for part in (user.first_name, user.last_name) if part) or user.username[:2]
    return f"{initials.upper()} ({user.username})"


def _local(clinic: Clinic, at: datetime) -> str:
    return at.astimezone(clinic.tz).strftime("%Y-%m-%d %H:%M")


def report(clinic: Clinic, kind: str, first: date, last: date) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one report over the clinic days ``first`` to ``last``, oldest first."""
    start, end = day_range(clinic, first, last)
    return _REPORTS[kind](clinic, start, end)


def _receipts(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "received on",
        "substance",
        "form and units per container",
        "NDC",
        "containers",
        "ordered",
        "lot",
        "expires",
        "supplier",
        "supplier address",
        "supplier DEA number",
        "invoice",
        "received by",
        "witnessed by",
        "status",
        "hold reason",
    ]
    s, e = start.date(), (end - timedelta(days=1)).date()
    rows = []
    for r in (
        Receipt.in_clinic(clinic)
        .filter(received_on__gte=s, received_on__lte=e)
        .select_related("product__product", "received_by", "witnessed_by")
        .order_by("received_on", "pk")
    ):
        rows.append(
            [
                r.received_on.isoformat(),
                r.product.product.get_drug_display(),
                _form(r.product),
                r.product.ndc,
                r.containers_received,
                r.containers_ordered,
                r.lot_number,
                r.expires_on.isoformat(),
                r.supplier_name,
                r.supplier_address,
                r.supplier_registration,
                r.invoice_number,
                _who(r.received_by),
                _who(r.witnessed_by),
                r.get_status_display(),
                r.hold_reason,
            ]
        )
    return header, rows


def _form(product: StockProduct) -> str:
    p = product.product
    if product.is_device:
        return f"{p.form}, {product.container_mg} mg per device"
    conc = p.concentration_mg_per_ml
    return f"{p.form}, {product.container_ml} mL of {conc} mg/mL ({product.container_mg} mg)"


def _administrations(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "date",
        "session",
        "patient",
        "patient address",
        "substance",
        "form",
        "containers (lot)",
        "drawn mg",
        "administered mg",
        "wasted mg",
        "returned mg",
        "unaccounted mg",
        "administered by",
        "waste witnessed by",
        "status",
    ]
    recs = list(
        SessionReconciliation.in_clinic(clinic)
        .filter(reconciled_at__gte=start, reconciled_at__lt=end)
        .select_related("session__patient", "reconciled_by", "witness")
        .order_by("reconciled_at", "pk")
    )
    draws: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in (
        LedgerEntry.objects.filter(session__in=[r.session_id for r in recs], kind=EntryKind.DRAW)
        .select_related("container__product__product")
        .order_by("seq")
    ):
        draws[entry.session_id].append(entry)  # type: ignore[index]
    rows = []
    for r in recs:
        patient = r.session.patient
        session_draws = draws[r.session_id]
        product = session_draws[0].container.product if session_draws else None  # type: ignore[union-attr]
        rows.append(
            [
                _local(clinic, r.reconciled_at),
                r.session_id,
                f"{patient.family_name}, {patient.given_name} ({patient.mrn})",
                patient.address,
                product.product.get_drug_display() if product else "",
                _form(product) if product else "",
                "; ".join(f"{e.container.label} ({e.container.lot_number})" for e in session_draws),  # type: ignore[union-attr]
                r.drawn_mg,
                r.administered_mg,
                r.wasted_mg,
                r.returned_mg,
                r.unaccounted_mg,
                _who(r.reconciled_by),
                _who(r.witness) if r.wasted_mg or r.returned_mg else "",
                r.get_status_display(),
            ]
        )
    return header, rows


def _inventories(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "taken at",
        "kind",
        "opening or close of business",
        "location",
        "container",
        "lot",
        "expected mg",
        "counted mg",
        "counted mL",
        "difference mg",
        "counted by",
        "witness",
    ]
    rows = []
    for line in (
        CountLine.objects.filter(count__clinic=clinic, count__taken_at__gte=start, count__taken_at__lt=end)
        .select_related("count__location", "count__counted_by", "count__witness", "container")
        .order_by("count__taken_at", "count_id", "container__number")
    ):
        c = line.count
        rows.append(
            [
                _local(clinic, c.taken_at),
                c.get_kind_display(),
                c.get_business_time_display(),
                c.location.name,
                line.container.label,
                line.container.lot_number,
                line.expected_mg,
                line.counted_mg,
                "" if line.counted_ml is None else line.counted_ml,
                line.difference_mg,
                _who(c.counted_by),
                _who(c.witness),
            ]
        )
    return header, rows


def _entries(
    clinic: Clinic, start: datetime, end: datetime, kinds: tuple[str, ...] = ()
) -> QuerySet[LedgerEntry]:
    qs = LedgerEntry.in_clinic(clinic).filter(at__gte=start, at__lt=end)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return qs.select_related("container__product__product", "actor", "witness", "second_witness").order_by(
        "seq"
    )


def _disposals(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "date",
        "manner",
        "container",
        "lot",
        "substance",
        "mg",
        "mL",
        "method or distributor",
        "distributor DEA",
        "reason",
        "by",
        "witness",
        "second witness",
    ]
    rows = []
    for e in _entries(clinic, start, end, (EntryKind.DESTRUCTION, EntryKind.REVERSE_DISTRIBUTOR)):
        c = e.container
        how = e.detail.get("method") or e.detail.get("distributor", "")
        rows.append(
            [
                _local(clinic, e.at),
                e.get_kind_display(),
                c.label if c else "",
                c.lot_number if c else "",
                c.product.product.get_drug_display() if c else "",
                e.mg,
                "" if e.ml is None else e.ml,
                how,
                e.detail.get("registration", ""),
                e.reason,
                _who(e.actor),
                _who(e.witness),
                _who(e.second_witness),
            ]
        )
    return header, rows


def _losses(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "discovered",
        "kind",
        "container",
        "mg",
        "mL",
        "description",
        "police report",
        "reported by",
        "notice due",
        "notice sent",
        "Form 106 due",
        "Form 106 filed",
        "Form 106 reference",
    ]
    rows = []
    for r in (
        LossReport.in_clinic(clinic)
        .filter(discovered_at__gte=start, discovered_at__lt=end)
        .select_related("container", "reported_by")
        .order_by("discovered_at", "pk")
    ):
        rows.append(
            [
                _local(clinic, r.discovered_at),
                r.get_kind_display(),
                r.container.label if r.container else "",
                r.quantity_mg,
                "" if r.quantity_ml is None else r.quantity_ml,
                r.description,
                r.police_report,
                _who(r.reported_by),
                _local(clinic, r.notice_due_at),
                _local(clinic, r.notified_at) if r.notified_at else "",
                r.form_106_due_on.isoformat(),
                _local(clinic, r.form_106_filed_at) if r.form_106_filed_at else "",
                r.form_106_reference,
            ]
        )
    return header, rows


def _all_entries(clinic: Clinic, start: datetime, end: datetime) -> tuple[list[str], list[list[Any]]]:
    header = [
        "seq",
        "at",
        "kind",
        "container",
        "session",
        "mg",
        "mL",
        "balance mg",
        "by",
        "witness",
        "second witness",
        "reason",
        "hash",
    ]
    rows = [
        [
            e.seq,
            _local(clinic, e.at),
            e.get_kind_display(),
            e.container.label if e.container else "",
            e.session_id or "",
            e.mg,
            "" if e.ml is None else e.ml,
            "" if e.balance_mg is None else e.balance_mg,
            _who(e.actor),
            _who(e.witness),
            _who(e.second_witness),
            e.reason,
            e.hash,
        ]
        for e in _entries(clinic, start, end)
    ]
    return header, rows


_REPORTS = {
    "receipts": _receipts,
    "administrations": _administrations,
    "inventories": _inventories,
    "disposals": _disposals,
    "losses": _losses,
    "entries": _all_entries,
}


# ----- diversion signals ------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffSignal:
    user: User
    sessions: int
    waste_share: float  # wasted / drawn over their sessions
    peer_waste_share: float
    waste_p: float | None  # Holm-adjusted; None: too few sessions to test
    waste_superiority: float | None  # P(their session wastes more than a peer's); None: not tested
    discrepancies: int
    discrepancy_p: float | None
    refused_wastes: int

    @property
    def waste_flagged(self) -> bool:
        return (
            self.waste_p is not None
            and self.waste_p < rules.ALPHA
            and (self.waste_superiority or 0) >= rules.MIN_SUPERIORITY
        )

    @property
    def flagged(self) -> bool:
        return self.waste_flagged or (self.discrepancy_p is not None and self.discrepancy_p < rules.ALPHA)


@dataclass(frozen=True)
class Signals:
    staff: list[StaffSignal]
    repeated: list[tuple[User, int]]  # two or more discrepancies in the window
    draws_without_dosing: list[LedgerEntry]
    days_without_count: list[date]


def signals(clinic: Clinic, first: date, last: date) -> Signals:
    """Who stands out against their peers over the clinic days ``first`` to ``last``.

    Per person (the one who drew for the session): the share of drawn drug wasted in each session,
    compared with everyone else's sessions by a one-sided Mann-Whitney test; and the number of
    discrepancies, against the peers' rate by a binomial test. Both are Holm-adjusted across
    the people tested, and a test needs at least ``rules.MIN_SESSIONS`` sessions on each side. A
    waste share stands out only with a large enough effect too (``rules.MIN_SUPERIORITY``)."""
    start, end = day_range(clinic, first, last)
    recs = list(
        SessionReconciliation.in_clinic(clinic)
        .filter(reconciled_at__gte=start, reconciled_at__lt=end)
        .values_list("session_id", "drawn_mg", "wasted_mg")
    )
    drawer = dict(
        LedgerEntry.in_clinic(clinic)
        .filter(kind=EntryKind.DRAW, session_id__in=[r[0] for r in recs])
        .order_by("-seq")
        .values_list("session_id", "actor_id")
    )
    shares: dict[int, list[float]] = defaultdict(list)
    wasted: dict[int, Decimal] = defaultdict(Decimal)
    drawn: dict[int, Decimal] = defaultdict(Decimal)
    for session_id, drawn_mg, wasted_mg in recs:
        who = drawer.get(session_id)
        if who is None or not drawn_mg:
            continue
        shares[who].append(float(wasted_mg / drawn_mg))
        wasted[who] += wasted_mg
        drawn[who] += drawn_mg
    disc = dict(
        Discrepancy.in_clinic(clinic)
        .filter(opened_at__gte=start, opened_at__lt=end)
        .values_list("staff_id")
        .annotate(n=CountOf("pk"))
        .values_list("staff_id", "n")
    )
    refused = dict(
        AuditEntry.objects.filter(clinic=clinic, action="ledger.waste_refused", at__gte=start, at__lt=end)
        .values_list("user_id")
        .annotate(n=CountOf("pk"))
        .values_list("user_id", "n")
    )
    people = sorted(set(shares) | set(disc) | set(refused))
    users = User.objects.in_bulk(people)
    total_sessions = sum(len(v) for v in shares.values())
    total_disc = sum(disc.values())
    raw_waste: list[float | None] = []
    effect: list[float | None] = []
    raw_disc: list[float | None] = []
    for uid in people:
        mine = shares.get(uid, [])
        peers = [v for other, values in shares.items() if other != uid for v in values]
        if len(mine) >= rules.MIN_SESSIONS and len(peers) >= rules.MIN_SESSIONS:
            raw_waste.append(rules.mann_whitney_greater(mine, peers))
            effect.append(rules.superiority(mine, peers))
        else:
            raw_waste.append(None)
            effect.append(None)
        peer_sessions = total_sessions - len(mine)
        if len(mine) >= rules.MIN_SESSIONS and peer_sessions >= rules.MIN_SESSIONS:
            peer_rate = (total_disc - disc.get(uid, 0)) / peer_sessions
            # A floor on the peers' rate: with none among them, one discrepancy would be "impossible".
            raw_disc.append(
                rules.binomial_greater(disc.get(uid, 0), len(mine), max(peer_rate, 0.5 / peer_sessions))
            )
        else:
            raw_disc.append(None)
    adj_waste = _holm_partial(raw_waste)
    adj_disc = _holm_partial(raw_disc)
    staff = []
    for i, uid in enumerate(people):
        peer_w = sum(v for o, v in wasted.items() if o != uid)
        peer_d = sum(v for o, v in drawn.items() if o != uid)
        staff.append(
            StaffSignal(
                user=users[uid],
                sessions=len(shares.get(uid, [])),
                waste_share=float(wasted[uid] / drawn[uid]) if drawn.get(uid) else 0.0,
                peer_waste_share=float(peer_w / peer_d) if peer_d else 0.0,
                waste_p=adj_waste[i],
                waste_superiority=effect[i],
                discrepancies=disc.get(uid, 0),
                discrepancy_p=adj_disc[i],
                refused_wastes=refused.get(uid, 0),
            )
        )
    staff.sort(key=lambda s: (not s.flagged, -(s.discrepancies + s.refused_wastes), s.user.username))
    repeated = [(users[uid], n) for uid, n in disc.items() if n >= 2 and uid in users]
    draws_without_dosing = list(
        LedgerEntry.in_clinic(clinic)
        .filter(kind=EntryKind.DRAW, at__gte=start, at__lt=end, reversed_by__isnull=True)
        .exclude(session__dosing_events__isnull=False)
        .filter(session__state__in=ENDED)
        .select_related("actor", "container", "session")
    )
    return Signals(
        staff=staff,
        repeated=repeated,
        draws_without_dosing=draws_without_dosing,
        days_without_count=days_without_count(clinic, first, last),
    )


def _holm_partial(p_values: list[float | None]) -> list[float | None]:
    tested = [i for i, p in enumerate(p_values) if p is not None]
    adjusted = rules.holm([p_values[i] for i in tested])  # type: ignore[misc]
    out: list[float | None] = [None] * len(p_values)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = p
    return out


def days_without_count(clinic: Clinic, first: date, last: date) -> list[date]:
    """Clinic days on which drug was drawn but no daily (or shift) count was recorded."""
    start, end = day_range(clinic, first, last)
    drawn_days = {
        e.astimezone(clinic.tz).date()
        for e in LedgerEntry.in_clinic(clinic)
        .filter(kind=EntryKind.DRAW, at__gte=start, at__lt=end)
        .values_list("at", flat=True)
    }
    counted_days = {
        t.astimezone(clinic.tz).date()
        for t in Count.in_clinic(clinic)
        .filter(taken_at__gte=start, taken_at__lt=end + timedelta(hours=6))
        .values_list("taken_at", flat=True)
    }
    return sorted(drawn_days - counted_days)
