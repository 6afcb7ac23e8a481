"""A prescriber sees escalated alerts: a box atop the floor board and the chair marked, live."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert
from tests.infusions.conftest import VITALS

HX = {"HTTP_HX_REQUEST": "true"}


def test_floor_board_shows_escalated_alerts_to_the_prescriber(
    login, nurse, prescriber, clinic_a, iv_session, django_assert_max_num_queries
):
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
    )
    actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=iv_session,
        kind="vitals",
        data=VITALS | {"systolic_mmhg": 190, "diastolic_mmhg": 100},
        idempotency_key="hi",
    )
    client = login(prescriber)
    body = client.get(reverse("infusions-floor")).content.decode()
    assert 'data-alert="bp_severe"' in body and "Escalated to the prescriber" not in body

    severe = Alert.objects.get(code="bp_severe")
    actions.escalate_alerts(now=severe.raised_at + timedelta(minutes=6))
    with django_assert_max_num_queries(16):  # the same queries as before: the box reads the rows
        page = client.get(reverse("infusions-floor"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Escalated to the prescriber (2)" in body  # the severe BP and the rise from baseline
    assert f'data-escalated-alert="{severe.pk}"' in body
    assert 'class="card escalated"' in body and "escalated to the prescriber</span>" in body
    assert reverse("infusions-chair", args=[iv_session.pk]) in body
    # The live refresh (htmx) gets the box too.
    fragment = client.get(reverse("infusions-floor"), **HX).content.decode()
    assert "Escalated to the prescriber (2)" in fragment and "<html" not in fragment

    # Acknowledged: no longer escalated on the board.
    for alert in Alert.objects.filter(session=iv_session):
        actions.acknowledge_alert(
            user=nurse, clinic=clinic_a, alert=alert, action_taken="Rechecked, rate halved"
        )
    body = client.get(reverse("infusions-floor")).content.decode()
    assert "Escalated to the prescriber" not in body and "card escalated" not in body
