"""Drug-library changes under the two-person rule: a readable reason, a source for every limit,
plausibility ceilings per kind and route, and a second person's approval before a change is in
force (protocols/library_rules.py, protocols/actions/library.py; docs/dosing.md)."""

# pytest fixtures arrive as parameters, so test functions take many.
# ruff: noqa: PLR0917
from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.audit.models import AuditEntry
from ketaclinic.protocols import actions, catalog, library_rules, limits
from ketaclinic.protocols.models import DoseOrder, DrugLibrary
from tests.conftest import PASSWORD, make_user
from tests.protocols.test_actions import entry_form


def propose(user, clinic, library, key="iv-depression", reason="Medical director lowered the cap", **changes):
    entry = library.entries.get(key=key)
    return actions.save_library_entry(
        user,
        clinic,
        key,
        name=entry.name,
        route=entry.route,
        product_code=entry.product.code if entry.product else None,
        limit_data=entry_form(entry, **changes),
        reason=reason,
    )


@pytest.fixture
def second_admin(clinic_a):
    return make_user(clinic_a, "adele", "admin")


# --- the rules, as pure functions ------------------------------------------------------------


def lim(**bounds):
    return limits.Limit(**{k: D(v) for k, v in bounds.items()}, source="a cited source")


@pytest.mark.parametrize(
    ("route", "kind", "ceiling"),
    [
        ("iv", "dose_mg_per_kg", "4.5"),
        ("im", "dose_mg_per_kg", "13"),
        ("nasal", "dose_mg_per_kg", "4.5"),
        ("iv", "dose_mg", "675"),
        ("im", "dose_mg", "1950"),
        ("nasal", "dose_mg", "84"),
        ("nasal", "cumulative_session_mg", "84"),
        ("nasal", "bolus_mg", "84"),
        ("iv", "cumulative_session_mg", "675"),
        ("iv", "bolus_mg", "675"),
        ("iv", "rate_mg_per_kg_per_h", "30"),
        ("iv", "duration_min", "1440"),
        ("iv", "interval_since_last_h", "672"),
        ("iv", "sessions_per_week", "7"),
    ],
)
def test_each_ceiling_allows_its_value_and_refuses_the_next(route, kind, ceiling):
    table = library_rules.ceilings()
    assert table[route][kind].value == D(ceiling)
    side = "max" if "max" in limits.KINDS[kind].sides else "min"
    at = {kind: lim(**{f"hard_{side}": ceiling})}
    assert library_rules.ceiling_problems(route, at, table) == {}
    above = {kind: lim(**{f"hard_{side}": str(D(ceiling) + D("0.01"))})}
    problems = library_rules.ceiling_problems(route, above, table)
    assert list(problems) == [f"{kind}__hard_{side}"]
    assert f"{D(ceiling).normalize():f} {limits.KINDS[kind].unit}" in problems[f"{kind}__hard_{side}"]


def test_every_bound_is_held_to_the_ceiling_not_only_the_hard_maximum():
    table = library_rules.ceilings()
    entry = {"duration_min": lim(soft_min="2000", hard_min="1500", soft_max="1600", hard_max="1700")}
    assert set(library_rules.ceiling_problems("iv", entry, table)) == {
        "duration_min__soft_min",
        "duration_min__hard_min",
        "duration_min__soft_max",
        "duration_min__hard_max",
    }
    assert library_rules.ceiling_problems("iv", {"dose_mg": lim(hard_max="1e308")}, table)


def test_ceiling_sources_say_which_are_from_the_label_and_which_are_assumed():
    table = library_rules.ceilings()
    assert not table["iv"]["dose_mg_per_kg"].assumed and "KETALAR" in table["iv"]["dose_mg_per_kg"].source
    assert not table["nasal"]["dose_mg"].assumed and "84 mg" in table["nasal"]["dose_mg"].source
    assert table["iv"]["dose_mg"].assumed and table["iv"]["sessions_per_week"].assumed


def test_the_per_kg_ceilings_and_the_totals_they_imply():
    table = library_rules.default_ceilings()
    assert set(table) == {"iv", "im", "nasal"}
    for route in table:
        assert set(table[route]) == set(limits.KINDS), route
    iv, im = table["iv"], table["im"]
    assert iv["dose_mg_per_kg"] == library_rules.Ceiling(D("4.5"), library_rules.LABEL + ": 1-4.5 mg/kg IV")
    assert im["dose_mg_per_kg"] == library_rules.Ceiling(D("13"), library_rules.LABEL + ": 6.5-13 mg/kg IM")
    assert iv["dose_mg"] == iv["cumulative_session_mg"] == iv["bolus_mg"]
    assert iv["dose_mg"] == library_rules.Ceiling(D("675.0"), library_rules.ASSUMED + " (4.5 mg/kg × 150 kg)")
    assert im["bolus_mg"].value == im["cumulative_session_mg"].value == D("1950")
    assert table["nasal"]["dose_mg_per_kg"].source == library_rules.ASSUMED + " (the IV label figure)"
    assert iv["rate_mg_per_kg_per_h"].source == library_rules.LABEL + ": 0.5 mg/kg/min"
    for kind in ("duration_min", "interval_since_last_h", "sessions_per_week"):
        assert iv[kind].source == library_rules.ASSUMED, kind


def test_a_clinic_overrides_a_ceiling_and_bad_overrides_are_named():
    table = library_rules.ceilings({"nasal": {"dose_mg": "200"}, "iv": {"sessions_per_week": "0.5"}})
    assert table["nasal"]["dose_mg"] == library_rules.Ceiling(
        D("200"), "set by this clinic (KETACLINIC_LIBRARY_CEILINGS)"
    )
    assert table["iv"]["sessions_per_week"].value == D("0.5")  # small, but positive: allowed
    assert table["iv"]["dose_mg"].value == D("675") and table["nasal"]["bolus_mg"].value == D("84")
    with pytest.raises(ValueError) as exc:
        library_rules.ceilings({"oral": {}})
    assert str(exc.value) == "library ceilings: 'oral' is not a route (iv, im, nasal)."
    with pytest.raises(ValueError) as exc:
        library_rules.ceilings({"iv": {"dose": 1}})
    assert str(exc.value) == "library ceilings: 'dose' is not a limit kind (" + ", ".join(limits.KINDS) + ")."
    with pytest.raises(ValueError) as exc:
        library_rules.ceilings({"iv": {"dose_mg": "lots"}})
    assert str(exc.value) == "library ceilings: iv.dose_mg must be a positive number, not 'lots'."
    assert not library_rules.ceiling_problems("nasal", {"dose_mg": lim(hard_max="150")}, table)
    for bad, says in [
        ({"oral": {"dose_mg": "1"}}, "'oral' is not a route"),
        ({"iv": {"dose": "1"}}, "'dose' is not a limit kind"),
        ({"iv": {"dose_mg": "0"}}, "iv.dose_mg must be a positive number"),
        ({"iv": {"dose_mg": "-5"}}, "must be a positive number"),
        ({"iv": {"dose_mg": "lots"}}, "must be a positive number"),
        ({"iv": {"dose_mg": "Infinity"}}, "must be a positive number"),
    ]:
        with pytest.raises(ValueError, match=says):
            library_rules.ceilings(bad)


def test_the_ceilings_setting_is_read_from_json_and_refused_when_wrong(monkeypatch):
    from ketaclinic import settings as settings_module

    monkeypatch.setenv("KETACLINIC_LIBRARY_CEILINGS", '{"nasal": {"dose_mg": 200}}')
    assert settings_module.env_ceilings("KETACLINIC_LIBRARY_CEILINGS") == {"nasal": {"dose_mg": "200"}}
    monkeypatch.setenv("KETACLINIC_LIBRARY_CEILINGS", "{nasal: 200}")
    with pytest.raises(ValueError, match="must be JSON"):
        settings_module.env_ceilings("KETACLINIC_LIBRARY_CEILINGS")
    monkeypatch.setenv("KETACLINIC_LIBRARY_CEILINGS", '{"nasal": 200}')
    with pytest.raises(ValueError, match="must map each route"):
        settings_module.env_ceilings("KETACLINIC_LIBRARY_CEILINGS")
    monkeypatch.setenv("KETACLINIC_LIBRARY_CEILINGS", '{"nasal": {"dose_mg": -1}}')
    with pytest.raises(ValueError, match="positive number"):
        settings_module.env_ceilings("KETACLINIC_LIBRARY_CEILINGS")


def test_an_entry_must_cap_the_dose_and_the_session_total():
    capped = {"dose_mg": lim(hard_max="100"), "cumulative_session_mg": lim(hard_max="100")}
    assert library_rules.missing_caps(capped) == []
    assert library_rules.missing_caps({**capped, "dose_mg": lim(soft_max="100")})[0].startswith(
        "Set a hard maximum on the dose per kg or on the dose"
    )
    per_kg = {"dose_mg_per_kg": lim(hard_max="1"), "cumulative_session_mg": lim(hard_max="100")}
    assert library_rules.missing_caps(per_kg) == []
    no_total = library_rules.missing_caps({"dose_mg": lim(hard_max="100")})
    assert no_total == ["Set a hard maximum on the cumulative session dose: titration and boluses add up."]
    assert len(library_rules.missing_caps({})) == 2


def test_every_default_entry_passes_the_rules_it_is_held_to():
    table = library_rules.ceilings()
    for key, spec in catalog.DEFAULT_LIBRARY.items():
        assert library_rules.ceiling_problems(spec["route"], spec["limits"], table) == {}, key
        assert library_rules.missing_caps(spec["limits"]) == [], key
        for kind, limit in spec["limits"].items():
            assert library_rules.source_problem(limit.source) is None, (key, kind)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (".", False),
        ("", False),
        ("ok ok ok", False),  # four words needed
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False),  # one word
        ("1 2 3 4 5 6 7 8 9 10 11 12", False),  # numbers are not words
        ("lower the cap now", False),  # 17 characters
        ("lower the dose cap now", True),  # 22 characters, five words
        ("Medical director lowered the soft maximum", True),
    ],
)
def test_a_reason_a_reviewer_can_read(text, ok):
    assert (library_rules.reason_problem(text) is None) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [("", False), ("x", False), ("assumed", False), ("not an infusion", True), ("Label 2.1", False)],
)
def test_a_source_a_reviewer_can_check(text, ok):
    assert (library_rules.source_problem(text) is None) is ok


def test_the_reason_and_source_rules_at_their_exact_boundaries():
    assert library_rules.reason_problem("ab cd ef ghijklmnopq") is None  # four words, 20 characters
    assert library_rules.reason_problem("ab cd ef ghijklmnop") == (
        "Say why the library changes in words a reviewer can check (at least four words): "
        "what changes, and on whose decision."
    )
    assert library_rules.reason_problem("abcde fghij klmnopqrst") is not None  # three words, 22 characters
    assert library_rules.source_problem("abc defg") is None  # two words, 8 characters
    assert library_rules.source_problem("abc def") == (
        "Cite the source of this limit (a label, guideline or paper), or say that it is a local assumption."
    )
    assert library_rules.source_problem("abcdefghijk") is not None  # one word


def test_readable_counts_characters_and_words_at_their_boundaries():
    assert library_rules.readable("ab cd", words=2, chars=5)
    assert not library_rules.readable("ab cd", words=2, chars=6)
    assert not library_rules.readable("ab cd", words=3, chars=5)
    assert library_rules.readable("  ab cd  ", words=2, chars=5)  # surrounding space is not counted
    assert not library_rules.readable("a b c d e f", words=2, chars=5)  # one-letter words do not count


def test_diff_names_each_changed_limit_in_words():
    lim_a = limits.Limit(soft_max=D("0.75"), hard_max=D("1.0"), source="cited").to_dict()
    lim_b = limits.Limit(soft_max=D("0.6"), hard_max=D("1.0"), source="cited").to_dict()
    before = {"name": "IV", "route": "iv", "product": "ketamine-10", "limits": {"dose_mg_per_kg": lim_a}}
    after = {**before, "limits": {"dose_mg_per_kg": lim_b}}
    assert [c.to_dict() for c in library_rules.diff_entry("iv", before, after)] == [
        {
            "entry": "iv",
            "what": "Dose per kg",
            "before": "soft max 0.75 mg/kg, hard max 1 mg/kg",
            "after": "soft max 0.6 mg/kg, hard max 1 mg/kg",
        }
    ]
    resourced = {**before, "limits": {"dose_mg_per_kg": {**lim_a, "source": "another paper"}}}
    assert [c.to_dict() for c in library_rules.diff_entry("iv", before, resourced)] == [
        {"entry": "iv", "what": "Dose per kg: source", "before": "cited", "after": "another paper"}
    ]
    renamed = {**before, "name": "IV (new)", "route": "im", "product": None}
    assert [c.to_dict() for c in library_rules.diff_entry("iv", before, renamed)] == [
        {"entry": "iv", "what": "name", "before": "IV", "after": "IV (new)"},
        {"entry": "iv", "what": "route", "before": "iv", "after": "im"},
        {"entry": "iv", "what": "product", "before": "ketamine-10", "after": "—"},
    ]
    unproduct = {**before, "product": None}
    assert [c.to_dict() for c in library_rules.diff_entry("iv", unproduct, before)] == [
        {"entry": "iv", "what": "product", "before": "—", "after": "ketamine-10"}
    ]
    added = library_rules.diff_entry("iv", None, after)
    assert [c.to_dict() for c in added] == [
        {"entry": "iv", "what": "entry added", "before": "—", "after": "IV"},
        {
            "entry": "iv",
            "what": "Dose per kg",
            "before": "—",
            "after": "soft max 0.6 mg/kg, hard max 1 mg/kg",
        },
    ]
    assert [c.to_dict() for c in library_rules.diff_entry("iv", before, None)] == [
        {"entry": "iv", "what": "entry removed", "before": "IV", "after": "—"}
    ]
    # A change in a later kind is found after an unchanged first one.
    bolus_a = limits.Limit(hard_max=D("0"), source="no bolus").to_dict()
    bolus_b = limits.Limit(hard_max=D("10"), source="rescue bolus").to_dict()
    two = {**before, "limits": {"dose_mg_per_kg": lim_a, "bolus_mg": bolus_a}}
    later = {**before, "limits": {"dose_mg_per_kg": lim_a, "bolus_mg": bolus_b}}
    assert [c.to_dict() for c in library_rules.diff_entry("iv", two, later)] == [
        {"entry": "iv", "what": "Bolus", "before": "hard max 0 mg", "after": "hard max 10 mg"}
    ]
    assert library_rules.diff_entry("iv", before, before) == []
    assert library_rules.diff_entry("iv", None, None) == []


# --- the attack from the issue: one admin opens every limit -------------------------------------


def test_an_empty_source_a_dot_for_a_reason_and_1e308_are_refused_and_nothing_is_written(
    clinic_a, clinic_admin, library
):
    with pytest.raises(ValidationError) as exc:
        propose(
            clinic_admin,
            clinic_a,
            library,
            reason=".",
            dose_mg_per_kg__hard_max="1e308",
            dose_mg_per_kg__source="",
        )
    errors = exc.value.message_dict
    assert "reason" in errors and "dose_mg_per_kg__source" in errors
    assert "above the most any IV entry may allow, 4.5 mg/kg" in errors["dose_mg_per_kg__hard_max"][0]
    assert DrugLibrary.objects.filter(clinic=clinic_a).count() == 1
    assert not AuditEntry.objects.filter(action="library.propose").exists()


def test_opening_every_dose_limit_is_refused(clinic_a, clinic_admin, library):
    opened = {
        f"{kind}__{field}": value
        for kind in ("dose_mg_per_kg", "dose_mg", "cumulative_session_mg")
        for field, value in [
            ("open", "on"),
            ("soft_max", ""),
            ("hard_max", ""),
            ("soft_min", ""),
            ("hard_min", ""),
        ]
    }
    with pytest.raises(ValidationError) as exc:
        propose(clinic_admin, clinic_a, library, **opened)
    assert len(exc.value.message_dict["limits"]) == 2
    assert DrugLibrary.objects.filter(clinic=clinic_a).count() == 1


def test_a_change_that_changes_nothing_is_refused(clinic_a, clinic_admin, library):
    with pytest.raises(ValidationError, match="Nothing changes"):
        propose(clinic_admin, clinic_a, library)
    assert DrugLibrary.objects.filter(clinic=clinic_a).count() == 1


def test_a_proposal_is_not_in_force_until_a_second_person_approves_it(
    clinic_a, clinic_admin, prescriber, library, iv_plan
):
    proposed = propose(
        clinic_admin,
        clinic_a,
        library,
        dose_mg_per_kg__soft_max="0.9",
        reason="Wider range for partial responders",
    )
    assert DrugLibrary.current_for(clinic_a) == library and DrugLibrary.pending_for(clinic_a) == proposed
    dose = {"dose_mg_per_kg": "0.8", "duration_min": "60"}
    # Still checked against v1: 0.8 mg/kg is over v1's soft maximum of 0.75.
    with pytest.raises(ValidationError) as exc:
        actions.sign_order(prescriber, clinic_a, iv_plan, dose, override_reason="")
    assert "0.75" in exc.value.message_dict["override_reason"][0]
    actions.review_library(
        prescriber, clinic_a, proposed, approve=True, password=PASSWORD, note="Agreed at the committee"
    )
    assert DrugLibrary.current_for(clinic_a) == proposed and DrugLibrary.pending_for(clinic_a) is None
    order = actions.sign_order(prescriber, clinic_a, iv_plan, dose)
    assert order.library == proposed and order.limit_check["breaches"] == []
    approved = AuditEntry.objects.get(action="library.approve")
    assert approved.user_id == prescriber.pk and approved.detail["proposed_by"] == clinic_admin.username
    assert approved.detail["changes"][0]["after"] == "soft max 0.9 mg/kg, hard max 1 mg/kg"


def test_the_proposer_never_approves_their_own_change(clinic_a, clinic_admin, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    with pytest.raises(ValidationError, match="second person"):
        actions.review_library(clinic_admin, clinic_a, proposed, approve=True, password=PASSWORD)
    proposed.refresh_from_db()
    assert proposed.status == "proposed" and DrugLibrary.current_for(clinic_a) == library


def test_a_second_admin_may_approve(clinic_a, clinic_admin, second_admin, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    actions.review_library(second_admin, clinic_a, proposed, approve=True, password=PASSWORD)
    proposed.refresh_from_db()
    assert (proposed.status, proposed.reviewed_by) == ("approved", second_admin)


@pytest.mark.parametrize("who", ["nurse", "frontdesk", "auditor", "outsider"])
def test_only_a_prescriber_or_an_admin_of_the_clinic_reviews(personas, clinic_a, library, who):
    proposed = propose(personas["admin"], clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    with pytest.raises(PermissionDenied):
        actions.review_library(personas[who], clinic_a, proposed, approve=True, password=PASSWORD)
    assert DrugLibrary.current_for(clinic_a) == library


def test_another_clinics_version_cannot_be_reviewed(clinic_a, clinic_b, clinic_admin, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    other_admin = make_user(clinic_b, "bo", "admin")
    with pytest.raises(ValidationError, match="No such library version"):
        actions.review_library(other_admin, clinic_b, proposed, approve=True, password=PASSWORD)


def test_approving_needs_the_reviewers_own_password(clinic_a, clinic_admin, prescriber, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    for password, says in [("", "Enter your password"), ("wrong", "not your password")]:
        with pytest.raises(ValidationError, match=says):
            actions.review_library(prescriber, clinic_a, proposed, approve=True, password=password)
    assert DrugLibrary.current_for(clinic_a) == library


def test_rejecting_needs_a_reason_and_leaves_the_library_as_it_was(
    clinic_a, clinic_admin, prescriber, library
):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    with pytest.raises(ValidationError) as exc:
        actions.review_library(prescriber, clinic_a, proposed, approve=False, note="no")
    assert "note" in exc.value.message_dict
    actions.review_library(prescriber, clinic_a, proposed, approve=False, note="Not agreed by the committee")
    proposed.refresh_from_db()
    assert proposed.status == "rejected" and proposed.review_note == "Not agreed by the committee"
    assert DrugLibrary.current_for(clinic_a) == library
    with pytest.raises(ValidationError, match="not awaiting review"):
        actions.review_library(prescriber, clinic_a, proposed, approve=True, password=PASSWORD)
    # The next proposal takes the next number and is based on the version in force.
    again = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.7")
    assert again.version == 3 and again.based_on == library


def test_one_proposal_at_a_time_and_withdrawal(clinic_a, clinic_admin, prescriber, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    with pytest.raises(ValidationError, match="Version 2 awaits a second person's review"):
        propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.5")
    with pytest.raises(PermissionDenied):
        actions.withdraw_library_proposal(prescriber, clinic_a, proposed)
    actions.withdraw_library_proposal(clinic_admin, clinic_a, proposed)
    proposed.refresh_from_db()
    assert proposed.status == "withdrawn" and DrugLibrary.pending_for(clinic_a) is None
    with pytest.raises(ValidationError, match="not awaiting review"):
        actions.withdraw_library_proposal(clinic_admin, clinic_a, proposed)
    assert AuditEntry.objects.filter(action="library.withdraw").count() == 1


def test_a_proposal_overtaken_by_a_newer_version_in_force_cannot_be_approved(
    clinic_a, clinic_admin, prescriber, library
):
    stale = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    # A version put in force meanwhile (as a restore or a direct write might leave it).
    newer = DrugLibrary.objects.create(
        clinic=clinic_a, version=3, created_by=clinic_admin, reason="meanwhile", status="approved"
    )
    with pytest.raises(ValidationError, match="based on an older version than v3"):
        actions.review_library(prescriber, clinic_a, stale, approve=True, password=PASSWORD)
    assert DrugLibrary.current_for(clinic_a) == newer


# --- pages and the limits report -------------------------------------------------------------


def test_review_page_round_trip_and_the_limits_report(
    login, clinic_a, clinic_admin, prescriber, auditor, library
):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    client = login(prescriber)
    review = reverse("protocols-library-review", args=[proposed.pk])
    r = client.post(review, {"decision": "reject", "note": ""}, follow=True)
    assert "Say why the change is rejected" in r.content.decode()
    r = client.post(review, {"decision": "approve", "password": "wrong"}, follow=True)
    assert "not your password" in r.content.decode()
    assert DrugLibrary.current_for(clinic_a) == library
    r = client.post(review, {"decision": "approve", "password": PASSWORD}, follow=True)
    assert "v2 approved: it is in force" in r.content.decode()
    page = client.get(reverse("protocols-library")).content.decode()
    assert "What v2 changed" in page and "soft max 0.6 mg/kg, hard max 1 mg/kg" in page
    report = login(auditor).get(reverse("protocols-limits-report")).content.decode()
    assert "Drug-library changes" in report and "Medical director lowered the cap" in report
    assert "Approved by priya" in report and "soft max 0.75 mg/kg, hard max 1 mg/kg" in report


def test_bad_review_input_changes_nothing(login, clinic_a, clinic_admin, prescriber, nurse, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    assert login(nurse).post(reverse("protocols-library-review", args=[proposed.pk]), {}).status_code == 403
    client = login(prescriber)
    assert client.post(reverse("protocols-library-review", args=[987654]), {}).status_code == 404
    assert client.post(reverse("protocols-library-review", args=[proposed.pk]), {}).status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == "proposed"  # no decision is a rejection without a note: refused


def bearer(user):
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(
        membership=Membership.objects.get(user=user), name="t", prefix=prefix, token_hash=digest
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_the_api_refuses_an_unknown_decision(client, clinic_a, clinic_admin, prescriber, library):
    proposed = propose(clinic_admin, clinic_a, library, dose_mg_per_kg__soft_max="0.6")
    r = client.post(
        f"/api/library/versions/{proposed.pk}/review",
        {"decision": "maybe"},
        content_type="application/json",
        **bearer(prescriber),
    )
    assert r.status_code == 422
    assert (
        client.get(f"/api/library/versions/{proposed.pk}", **bearer(prescriber)).json()["status"]
        == "proposed"
    )
    assert DoseOrder.objects.count() == 0
