"""Forms for the patient pages: they render inputs and parse types; the rules live in actions.py.

Field names match the keys the actions take, so an action's ``ValidationError({field: ...})``
lands next to the input it is about (``ketaclinic.web.show_errors``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from ketaclinic.accounts.models import Clinic, User
from ketaclinic.patients.models import ConsentText, Indication, PregnancyStatus, Sex

DATE_FORMATS = ["%Y-%m-%d", "%m/%d/%Y"]
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def now_local() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class PatientForm(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=32)
    given_name = forms.CharField(label="Given name", max_length=100)
    family_name = forms.CharField(label="Family name", max_length=100)
    date_of_birth = forms.DateField(
        label="Date of birth",
        input_formats=DATE_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="YYYY-MM-DD or MM/DD/YYYY",
    )
    sex = forms.ChoiceField(choices=[("", "Choose…"), *Sex.choices])
    phone = forms.CharField(max_length=40, required=False, widget=forms.TextInput(attrs={"type": "tel"}))
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput)
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    emergency_contact_name = forms.CharField(label="Emergency contact", max_length=200, required=False)
    emergency_contact_phone = forms.CharField(
        label="Emergency contact phone",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel"}),
    )
    emergency_contact_relation = forms.CharField(label="Relation", max_length=60, required=False)
    escort_name = forms.CharField(label="Escort who takes them home", max_length=200, required=False)
    escort_phone = forms.CharField(
        label="Escort phone", max_length=40, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    height = forms.DecimalField(label="Height", required=False, min_value=0, decimal_places=1, max_digits=6)
    height_unit = forms.ChoiceField(label="Height unit", choices=[("cm", "cm"), ("in", "in")], initial="cm")
    indications = forms.MultipleChoiceField(
        choices=Indication.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    chronic_pain_type = forms.CharField(
        label="Chronic pain type", max_length=120, required=False, help_text="Required with chronic pain"
    )
    indication_other = forms.CharField(
        label="Other indication", max_length=200, required=False, help_text="Required with other"
    )
    allergies = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Write 'none known' when asked and there are none.",
    )
    pregnancy_status = forms.ChoiceField(
        label="Pregnancy status (not asked of a male patient)",
        choices=PregnancyStatus.choices,
        initial=PregnancyStatus.UNKNOWN,
        help_text="Recorded as not applicable when the sex is male.",
    )


class RegisterForm(PatientForm):
    mrn = forms.CharField(
        label="MRN", max_length=32, required=False, help_text="Leave empty to assign the clinic's next number"
    )
    not_duplicate = forms.BooleanField(
        label="This is a different person with the same name and date of birth", required=False
    )
    weight = forms.DecimalField(
        label="First weight",
        required=False,
        decimal_places=2,
        max_digits=7,
        help_text="Optional at registration",
    )
    weight_unit = forms.ChoiceField(label="Weight unit", choices=[("kg", "kg"), ("lb", "lb")], initial="kg")


class WeightForm(forms.Form):
    value = forms.DecimalField(label="Weight", decimal_places=2, max_digits=7)
    unit = forms.ChoiceField(label="Unit", choices=[("kg", "kg"), ("lb", "lb")], initial="kg")
    measured_at = forms.DateTimeField(
        label="Measured at", input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput()
    )


class WeightCorrectionForm(WeightForm):
    reason = forms.CharField(label="Reason for the correction", max_length=200)


class ConsentForm(forms.Form):
    text = forms.ModelChoiceField(label="Consent text (version)", queryset=ConsentText.objects.none())
    signed_by_name = forms.CharField(label="Signed by", max_length=200)
    signer_relation = forms.CharField(
        label="Relation to the patient",
        max_length=60,
        initial="self",
        help_text="'self' when the patient signed; otherwise e.g. parent, legal guardian",
    )
    signed_at = forms.DateTimeField(
        label="Signed at", input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput()
    )
    witness = forms.ModelChoiceField(label="Witness", queryset=User.objects.none())

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["text"].queryset = ConsentText.in_clinic(clinic).filter(retired_at__isnull=True)  # type: ignore[attr-defined]
        self.fields["witness"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(memberships__clinic=clinic, memberships__is_active=True)
            .order_by("last_name", "first_name", "username")
            .distinct()
        )
        self.fields["witness"].label_from_instance = lambda u: u.display_name  # type: ignore[attr-defined]


class ConsentTextForm(forms.Form):
    title = forms.CharField(max_length=200)
    version = forms.CharField(max_length=20, help_text="e.g. 2025-01 or 3")
    effective_from = forms.DateField(
        label="Effective from",
        input_formats=DATE_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    body = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 14}))
