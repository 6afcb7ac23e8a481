"""The kinds of observation are defined once (``observations.FIELDS``); the model's choices and
the API's body must say the same, so adding a kind in one place and not the others fails here."""

from __future__ import annotations

from ketaclinic.infusions import observations
from ketaclinic.infusions.api import ObservationIn, ObservationValues
from ketaclinic.infusions.models import Kind


def test_model_choices_are_the_kinds():
    assert list(Kind.values) == list(observations.FIELDS)


def test_api_body_fields_are_the_value_fields_of_the_kinds():
    assert set(ObservationValues.model_fields) == set(observations.VALUE_FIELDS)
    # Besides the values: what every observation carries, whatever its kind.
    envelope = {"kind", "idempotency_key", "observed_at", "source", "device_id"}
    assert set(ObservationIn.model_fields) - set(observations.VALUE_FIELDS) == envelope


def test_every_rating_is_a_kind():
    assert set(observations.RATINGS) <= set(observations.FIELDS)
