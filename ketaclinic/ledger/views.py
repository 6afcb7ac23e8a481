"""The ledger's pages. Each form posts to a view that calls one action and redirects; a refusal
re-renders the page with the errors next to their fields (400) and nothing written.

A witness signs at the actor's side with their own username and password (``witness_username``,
``witness_password``; a second witness ``second_witness_username`` ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, clinic_view, load_scoped
from ketaclinic.accounts.models import Membership, User
from ketaclinic.audit.actions import record
from ketaclinic.infusions.actions.queries import progress_for
from ketaclinic.infusions.models import Session
from ketaclinic.ledger import actions, queries, rules
from ketaclinic.ledger.actions.sessions import CLOSABLE, drawn_entries, session_balance
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    BusinessTime,
    Container,
    ContainerStatus,
    Count,
    CountKind,
    Discrepancy,
    DiscrepancyStatus,
    LedgerEntry,
    LocationKind,
    LossKind,
    LossReport,
    Receipt,
    Registration,
    SessionReconciliation,
    StockProduct,
    StorageLocation,
)
from ketaclinic.patients.actions import clinic_today
from ketaclinic.protocols.models import Product
from ketaclinic.web import date_range, error_messages

Page = Callable[..., HttpResponse]


def _signature(request: ClinicRequest, prefix: str = "witness") -> actions.Signature | None:
    username = request.POST.get(f"{prefix}_username", "").strip()
    if not username:
        return None
    return actions.Signature(username, request.POST.get(f"{prefix}_password", ""))


def _done(request: ClinicRequest, message: str, to: str, *args: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to, *args)


def _staff(request: ClinicRequest) -> list[User]:
    return [
        m.user
        for m in Membership.objects.filter(clinic=request.clinic, is_active=True)
        .select_related("user")
        .order_by("user__username")
    ]


# ----- the dashboard ----------------------------------------------------------------------------


@clinic_view("ledger.view")
def home(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    today = clinic_today(clinic)
    ctx = {
        "registration": Registration.in_clinic(clinic).first(),
        "today": today,
        "stock": queries.stock(clinic),
        "awaiting": queries.awaiting_closeout(clinic),
        "discrepancies": list(queries.open_discrepancies(clinic)),
        "losses": list(queries.open_losses(clinic)),
        "expired": actions.stock.expiring(clinic, today),
        "held": Receipt.in_clinic(clinic).filter(status="held"),
        "last": queries.last_counts(clinic),
        "inventory_due": queries.inventory_due(clinic, today),
        "locations": StorageLocation.in_clinic(clinic).filter(is_active=True),
    }
    return render(request, "ledger/home.html", ctx)


# ----- setup ------------------------------------------------------------------------------------


@clinic_view("ledger.manage")
def setup(
    request: ClinicRequest, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    clinic = request.clinic
    ctx = {
        "registrations": Registration.in_clinic(clinic),
        "locations": StorageLocation.in_clinic(clinic).prefetch_related("keyholders"),
        "products": StockProduct.in_clinic(clinic),
        "catalog": Product.objects.filter(is_active=True),
        "staff": _staff(request),
        "kinds": LocationKind.choices,
        "errors": errors or {},
        "form": request.POST.get("form", "") if errors else "",
        "post": request.POST if errors else {},
    }
    return render(request, "ledger/setup.html", ctx, status=status)


@require_POST
@clinic_view("ledger.manage")
def setup_save(request: ClinicRequest) -> HttpResponse:
    post, clinic, user = request.POST, request.clinic, request.user
    form = post.get("form")
    try:
        if form == "registration":
            actions.add_registration(
                user=user,
                clinic=clinic,
                number=post.get("number", ""),
                registrant_name=post.get("registrant_name", ""),
                address=post.get("address", ""),
                schedules=post.get("schedules", ""),
                expires_on=post.get("expires_on", ""),
            )
            message = "Registration saved."
        elif form == "location":
            holders = User.objects.filter(pk__in=_ids(post.getlist("keyholders")))
            actions.add_location(
                user=user,
                clinic=clinic,
                name=post.get("name", ""),
                kind=post.get("kind", ""),
                keyholders=holders,
            )
            message = "Location added."
        elif form == "keyholders":
            location = load_scoped(StorageLocation, clinic, post.get("location"))
            holders = User.objects.filter(pk__in=_ids(post.getlist("keyholders")))
            actions.set_keyholders(user=user, clinic=clinic, location=location, keyholders=holders)
            message = f"Keyholders of {location.name} saved."
        elif form == "product":
            product = Product.objects.filter(pk__in=_ids([post.get("product", "")]), is_active=True).first()
            if product is None:
                raise ValidationError({"product": "Choose a product."})
            actions.add_product(
                user=user,
                clinic=clinic,
                product=product,
                ndc=post.get("ndc", ""),
                container_ml=post.get("container_ml"),
            )
            message = "Product added."
        else:
            raise ValidationError({"form": "Unknown form."})
    except ValidationError as exc:
        return setup(request, errors=error_messages(exc), status=400)
    return _done(request, message, "ledger-setup")


def _ids(values: list[str]) -> list[int]:
    """The ids among posted values: digits that fit a database key; anything else is no id."""
    return [int(v) for v in values if str(v).isdigit() and len(str(v)) <= MAX_ID_DIGITS]


MAX_ID_DIGITS = 18  # a 64-bit key has 19 digits; more is no record of ours


# ----- receipt ----------------------------------------------------------------------------------


@clinic_view("ledger.receive")
def receive(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    if request.method != "POST":
        return _receive_page(request)
    post = request.POST
    try:
        product = load_scoped(StockProduct, clinic, post.get("product")) if post.get("product") else None
        location = (
            load_scoped(StorageLocation, clinic, post.get("location")) if post.get("location") else None
        )
        if product is None:
            raise ValidationError({"product": "Choose the product received."})
        if location is None:
            raise ValidationError({"location": "Choose where it is stored."})
        receipt = actions.receive(
            user=request.user,
            clinic=clinic,
            invoice_number=post.get("invoice_number", ""),
            order_reference=post.get("order_reference", ""),
            supplier_name=post.get("supplier_name", ""),
            supplier_address=post.get("supplier_address", ""),
            supplier_registration=post.get("supplier_registration", ""),
            received_on=post.get("received_on", ""),
            product=product,
            lot_number=post.get("lot_number", ""),
            expires_on=post.get("expires_on", ""),
            containers_ordered=post.get("containers_ordered", ""),
            containers_received=post.get("containers_received", ""),
            location=location,
            witness=_signature(request),
            hold_reason=post.get("hold_reason", ""),
        )
    except ValidationError as exc:
        return _receive_page(request, errors=error_messages(exc), status=400)
    if receipt.status == "held":
        messages.warning(request, f"Receipt held for review: {receipt.hold_reason}.")
        return redirect("ledger-receipt", receipt.pk)
    return _done(request, f"Received {receipt.containers_received} containers.", "ledger-receipt", receipt.pk)


def _receive_page(
    request: ClinicRequest, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    clinic = request.clinic
    ctx = {
        "products": StockProduct.in_clinic(clinic).filter(is_active=True),
        "locations": StorageLocation.in_clinic(clinic).filter(is_active=True),
        "errors": errors or {},
        "post": request.POST,
        "today": clinic_today(clinic).isoformat(),
    }
    return render(request, "ledger/receive.html", ctx, status=status)


@clinic_view("ledger.view", load={"receipt": Receipt})
def receipt_detail(request: ClinicRequest, receipt: Receipt) -> HttpResponse:
    return _receipt_page(request, receipt)


def _receipt_page(
    request: ClinicRequest, receipt: Receipt, errors: Any = None, status: int = 200
) -> HttpResponse:
    ctx = {"receipt": receipt, "containers": receipt.containers.all(), "errors": errors or {}}
    return render(request, "ledger/receipt.html", ctx, status=status)


@require_POST
@clinic_view("ledger.investigate", load={"receipt": Receipt})
def receipt_release(request: ClinicRequest, receipt: Receipt) -> HttpResponse:
    try:
        actions.release(
            user=request.user, clinic=request.clinic, receipt=receipt, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return _receipt_page(request, receipt, errors=error_messages(exc), status=400)
    return _done(request, "Receipt released: its containers are in stock.", "ledger-receipt", receipt.pk)


# ----- containers -------------------------------------------------------------------------------


@clinic_view("ledger.view")
def container_list(request: ClinicRequest) -> HttpResponse:
    containers = Container.in_clinic(request.clinic)
    if request.GET.get("all") != "1":
        containers = containers.exclude(status__in=CLOSED_STATUSES)
    return render(
        request, "ledger/containers.html", {"containers": containers, "all": request.GET.get("all") == "1"}
    )


@clinic_view("ledger.view", load={"container": Container})
def container_detail(request: ClinicRequest, container: Container) -> HttpResponse:
    return _container_page(request, container)


def _container_page(
    request: ClinicRequest, container: Container, errors: Any = None, status: int = 200
) -> HttpResponse:
    ctx = {
        "container": container,
        "entries": LedgerEntry.objects.filter(container=container)
        .select_related("actor", "witness", "second_witness", "session")
        .order_by("seq"),
        "locations": StorageLocation.in_clinic(request.clinic)
        .filter(is_active=True)
        .exclude(pk=container.location_id),
        "loss_kinds": LossKind.choices,
        "errors": errors or {},
        "form": request.POST.get("form", "") if errors else "",
        "post": request.POST if errors else {},
        "closed": container.status in CLOSED_STATUSES,
    }
    return render(request, "ledger/container.html", ctx, status=status)


def _post(request: ClinicRequest, run: Callable[[], str], page: Page, obj: Any, to: str) -> HttpResponse:
    """Run one action; on success say so and go to ``to``, else show ``page`` with the errors (400)."""
    try:
        message = run()
    except ValidationError as exc:
        return page(request, obj, errors=error_messages(exc), status=400)
    return _done(request, message, to, obj.pk)


def _container_post(request: ClinicRequest, container: Container, run: Callable[[], str]) -> HttpResponse:
    return _post(request, run, _container_page, container, "ledger-container")


@require_POST
@clinic_view("ledger.draw", load={"container": Container})
def container_transfer(request: ClinicRequest, container: Container) -> HttpResponse:
    def run() -> str:
        to = _location(request, request.POST.get("to"))
        actions.transfer(user=request.user, clinic=request.clinic, container=container, to=to)
        return f"{container.label} moved to {to.name}."

    return _container_post(request, container, run)


def _location(request: ClinicRequest, value: Any) -> StorageLocation:
    location = StorageLocation.in_clinic(request.clinic).filter(pk__in=_ids([str(value or "")])).first()
    if location is None:
        raise ValidationError({"to": "Choose a location."})
    return location


@require_POST
@clinic_view("ledger.destroy", load={"container": Container})
def container_destroy(request: ClinicRequest, container: Container) -> HttpResponse:
    def run() -> str:
        actions.destroy(
            user=request.user,
            clinic=request.clinic,
            container=container,
            reason=request.POST.get("reason", ""),
            method=request.POST.get("method", ""),
            witnesses=(_signature(request), _signature(request, "second_witness")),
        )
        return f"{container.label} destroyed; the destruction record is on the disposals report."

    return _container_post(request, container, run)


@require_POST
@clinic_view("ledger.destroy", load={"container": Container})
def container_reverse_distributor(request: ClinicRequest, container: Container) -> HttpResponse:
    def run() -> str:
        post = request.POST
        actions.send_to_reverse_distributor(
            user=request.user,
            clinic=request.clinic,
            container=container,
            distributor_name=post.get("distributor_name", ""),
            distributor_registration=post.get("distributor_registration", ""),
            distributor_address=post.get("distributor_address", ""),
            shipped_on=post.get("shipped_on", ""),
            witness=_signature(request),
        )
        return f"{container.label} sent to the reverse distributor."

    return _container_post(request, container, run)


@require_POST
@clinic_view("ledger.adjust", load={"container": Container})
def container_adjust(request: ClinicRequest, container: Container) -> HttpResponse:
    def run() -> str:
        actions.adjust(
            user=request.user,
            clinic=request.clinic,
            container=container,
            mg=request.POST.get("mg", ""),
            reason=request.POST.get("reason", ""),
            witness=_signature(request),
        )
        return f"{container.label} adjusted."

    return _container_post(request, container, run)


@require_POST
@clinic_view("ledger.investigate", load={"container": Container})
def container_loss(request: ClinicRequest, container: Container) -> HttpResponse:
    def run() -> str:
        report = _report_loss(request, container)
        due = timezone.localtime(report.notice_due_at)
        return f"Loss report {report.pk} opened: the written notice is due by {due:%Y-%m-%d}."

    return _container_post(request, container, run)


def _report_loss(request: ClinicRequest, container: Container | None) -> LossReport:
    post = request.POST
    return actions.report_loss(
        user=request.user,
        clinic=request.clinic,
        kind=post.get("kind", ""),
        discovered_at=post.get("discovered_at", ""),
        quantity_mg=post.get("quantity_mg", ""),
        description=post.get("description", ""),
        container=container,
        police_report=post.get("police_report", ""),
    )


# ----- a session's drug -------------------------------------------------------------------------


@clinic_view("ledger.view", load={"session": Session})
def session_drug(request: ClinicRequest, session: Session) -> HttpResponse:
    return _session_page(request, session)


def _session_page(
    request: ClinicRequest, session: Session, errors: Any = None, status: int = 200
) -> HttpResponse:
    clinic = request.clinic
    order = session.dose_order
    containers = Container.in_clinic(clinic).filter(status__in=(ContainerStatus.SEALED, ContainerStatus.OPEN))
    if order is not None:
        containers = containers.filter(
            product__product_id=order.product_id, expires_on__gte=clinic_today(clinic)
        )
    draws = drawn_entries(session)
    progress = progress_for(session)
    reconciliation = (
        SessionReconciliation.objects.filter(session=session)
        .select_related("reconciled_by", "witness")
        .first()
    )
    ctx = {
        "session": session,
        "order": order,
        "containers": containers.order_by("status", "expires_on", "number") if order else [],
        "draws": draws,
        "balance": session_balance(session),
        "given_mg": progress.given_mg if progress else None,
        "reconciliation": reconciliation,
        "discrepancy": Discrepancy.in_clinic(clinic).filter(session=session).first(),
        "devices": draws and draws[0].container.product.is_device,  # type: ignore[union-attr]
        "problems": queries.closeout_problems(session),
        "closable": session.state in CLOSABLE,
        "key": uuid.uuid4().hex,
        "errors": errors or {},
        "post": request.POST if errors else {},
        "tolerance_ml": actions.common.tolerance_ml(),
    }
    record(
        "ledger.session_view", user=request.user, clinic=clinic, obj=session, patient_id=session.patient_id
    )
    return render(request, "ledger/session.html", ctx, status=status)


def _session_post(request: ClinicRequest, session: Session, run: Callable[[], str]) -> HttpResponse:
    return _post(request, run, _session_page, session, "ledger-session")


@require_POST
@clinic_view("ledger.draw", load={"session": Session})
def session_draw(request: ClinicRequest, session: Session) -> HttpResponse:
    def run() -> str:
        container = (
            Container.in_clinic(request.clinic)
            .filter(pk__in=_ids([request.POST.get("container", "")]))
            .first()
        )
        if container is None:
            raise ValidationError({"container": "Choose the container you draw from."})
        entry = actions.draw(
            user=request.user,
            clinic=request.clinic,
            session=session,
            container=container,
            ml=request.POST.get("ml") or None,
            idempotency_key=request.POST.get("key", ""),
        )
        return f"Drew {entry.mg} mg from {container.label}."

    return _session_post(request, session, run)


@require_POST
@clinic_view("ledger.waste", load={"session": Session})
def session_close_out(request: ClinicRequest, session: Session) -> HttpResponse:
    def run() -> str:
        returned = list(
            Container.in_clinic(request.clinic).filter(pk__in=_ids(request.POST.getlist("returned")))
        )
        rec = actions.close_out(
            user=request.user,
            clinic=request.clinic,
            session=session,
            wasted=request.POST.get("wasted", ""),
            witness=_signature(request),
            returned=returned,
            note=request.POST.get("note", ""),
        )
        if rec.status == "discrepancy":
            messages.warning(
                request, f"{rec.unaccounted_mg} mg is unaccounted for: a discrepancy is open for review."
            )
            return "The session's drug is closed out."
        return "The session's drug is closed out and balances."

    return _session_post(request, session, run)


@require_POST
@clinic_view("ledger.draw", load={"entry": LedgerEntry})
def entry_correct(request: ClinicRequest, entry: LedgerEntry) -> HttpResponse:
    session = entry.session
    try:
        actions.correct_draw(
            user=request.user,
            clinic=request.clinic,
            entry=entry,
            reason=request.POST.get("reason", ""),
            witness=_signature(request),
        )
    except ValidationError as exc:
        errors = error_messages(exc)
        if session is not None:
            return _session_page(request, session, errors=errors, status=400)
        if entry.container is not None:
            return _container_page(request, entry.container, errors=errors, status=400)
        messages.error(request, "; ".join(m for ms in errors.values() for m in ms))
        return redirect("ledger-home")
    if session is None:  # a draw always has its session; the action refuses every other kind
        return redirect("ledger-home")
    return _done(
        request, "Draw reversed: the drug is back on the container's balance.", "ledger-session", session.pk
    )


# ----- counts -----------------------------------------------------------------------------------


@clinic_view("ledger.view")
def count_list(request: ClinicRequest) -> HttpResponse:
    counts = Count.in_clinic(request.clinic).select_related("location", "counted_by", "witness")[:200]
    return render(request, "ledger/counts.html", {"counts": counts})


@clinic_view("ledger.count")
def count_new(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    location = (
        StorageLocation.in_clinic(clinic)
        .filter(pk__in=_ids([request.GET.get("location", "") or request.POST.get("location", "")]))
        .first()
    )
    if request.method == "POST" and location is not None:
        counted = {
            int(name.removeprefix("counted_")): value
            for name, value in request.POST.items()
            if name.startswith("counted_") and name.removeprefix("counted_").isdigit()
        }
        try:
            count = actions.record_count(
                user=request.user,
                clinic=clinic,
                location=location,
                kind=request.POST.get("kind", ""),
                business_time=request.POST.get("business_time", ""),
                counted=counted,
                witness=_signature(request),
                note=request.POST.get("note", ""),
            )
        except ValidationError as exc:
            return _count_page(request, location, error_messages(exc), 400)
        opened = sum(1 for line in count.lines.all() if hasattr(line, "discrepancy"))
        if opened:
            messages.warning(
                request, f"{opened} container(s) differ from the ledger: discrepancies are open."
            )
        return _done(request, "Count recorded.", "ledger-counts")
    return _count_page(request, location)


def _count_page(
    request: ClinicRequest, location: StorageLocation | None, errors: Any = None, status: int = 200
) -> HttpResponse:
    containers = []
    if location is not None:
        containers = list(
            Container.in_clinic(request.clinic).filter(location=location).exclude(status__in=CLOSED_STATUSES)
        )
    ctx = {
        "location": location,
        "locations": StorageLocation.in_clinic(request.clinic).filter(is_active=True),
        "containers": containers,
        "kinds": CountKind.choices,
        "business_times": BusinessTime.choices,
        "errors": errors or {},
        "post": request.POST if errors else {},
    }
    return render(request, "ledger/count_new.html", ctx, status=status)


# ----- discrepancies and losses -----------------------------------------------------------------


@clinic_view("ledger.view")
def discrepancy_list(request: ClinicRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    qs = Discrepancy.in_clinic(request.clinic).select_related("staff", "container", "session")
    if status in DiscrepancyStatus.values:
        qs = qs.filter(status=status)
    return render(request, "ledger/discrepancies.html", {"discrepancies": qs[:500], "status": status})


@clinic_view("ledger.investigate", load={"discrepancy": Discrepancy})
def discrepancy_detail(request: ClinicRequest, discrepancy: Discrepancy) -> HttpResponse:
    return _discrepancy_page(request, discrepancy)


def _discrepancy_page(
    request: ClinicRequest, discrepancy: Discrepancy, errors: Any = None, status: int = 200
) -> HttpResponse:
    ctx = {
        "d": discrepancy,
        "loss_kinds": LossKind.choices,
        "errors": errors or {},
        "post": request.POST if errors else {},
        "form": request.POST.get("form", "") if errors else "",
    }
    return render(request, "ledger/discrepancy.html", ctx, status=status)


@require_POST
@clinic_view("ledger.investigate", load={"discrepancy": Discrepancy})
def discrepancy_act(request: ClinicRequest, discrepancy: Discrepancy) -> HttpResponse:
    post, form = request.POST, request.POST.get("form")
    try:
        if form == "note":
            actions.note_investigation(
                user=request.user, clinic=request.clinic, discrepancy=discrepancy, note=post.get("note", "")
            )
            message = "Note added."
        elif form == "resolve":
            actions.resolve(
                user=request.user,
                clinic=request.clinic,
                discrepancy=discrepancy,
                resolution=post.get("resolution", ""),
                adjust_to_count=post.get("adjust_to_count") == "1",
                witness=_signature(request),
            )
            message = "Discrepancy resolved."
        elif form == "escalate":
            report = actions.escalate(
                user=request.user,
                clinic=request.clinic,
                discrepancy=discrepancy,
                kind=post.get("kind", ""),
                description=post.get("description", ""),
                police_report=post.get("police_report", ""),
            )
            return _done(request, f"Escalated: loss report {report.pk} opened.", "ledger-losses")
        else:
            raise ValidationError({"form": "Unknown form."})
    except ValidationError as exc:
        return _discrepancy_page(request, discrepancy, errors=error_messages(exc), status=400)
    return _done(request, message, "ledger-discrepancy", discrepancy.pk)


@clinic_view("ledger.investigate")
def loss_list(request: ClinicRequest) -> HttpResponse:
    return _loss_page(request)


def _loss_page(request: ClinicRequest, errors: Any = None, status: int = 200) -> HttpResponse:
    ctx = {
        "reports": LossReport.in_clinic(request.clinic).select_related("container", "reported_by")[:200],
        "now": timezone.now(),
        "errors": errors or {},
        "loss_kinds": LossKind.choices,
    }
    return render(request, "ledger/losses.html", ctx, status=status)


@require_POST
@clinic_view("ledger.investigate")
def loss_new(request: ClinicRequest) -> HttpResponse:
    try:
        report = _report_loss(request, None)
    except ValidationError as exc:
        return _loss_page(request, errors=error_messages(exc), status=400)
    return _done(request, f"Loss report {report.pk} opened.", "ledger-losses")


@require_POST
@clinic_view("ledger.investigate", load={"report": LossReport})
def loss_filing(request: ClinicRequest, report: LossReport) -> HttpResponse:
    try:
        actions.record_loss_filing(
            user=request.user,
            clinic=request.clinic,
            report=report,
            step=request.POST.get("step", ""),
            reference=request.POST.get("reference", ""),
        )
    except ValidationError as exc:
        return _loss_page(request, errors=error_messages(exc), status=400)
    return _done(request, "Recorded.", "ledger-losses")


# ----- diversion signals ------------------------------------------------------------------------


@clinic_view("ledger.signals")
def signals(request: ClinicRequest) -> HttpResponse:
    first, last, problem = date_range(request, 90, clinic_today(request.clinic))
    found = queries.signals(request.clinic, first, last)
    record(
        "ledger.signals_view",
        user=request.user,
        clinic=request.clinic,
        detail={"from": first.isoformat(), "to": last.isoformat()},
    )
    ctx = {
        "s": found,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "problem": problem,
        "alpha": rules.ALPHA,
        "min_sessions": rules.MIN_SESSIONS,
        "min_superiority": rules.MIN_SUPERIORITY,
    }
    return render(request, "ledger/signals.html", ctx, status=400 if problem else 200)
