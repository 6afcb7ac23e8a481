"""Forms for the intake and the screening signature.

The forms only turn posted strings into plain values; ranges and clinical rules are checked once, in
``intake_actions``, whose ValidationError keys are mapped back onto the fields here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from ketaclinic.patients import dast, history
from ketaclinic.patients.eligibility import Finding
from ketaclinic.patients.models import Decision

YES_NO = [("yes", "Yes"), ("no", "No")]
BLANK_MEDICATION_ROWS = 3


def history_field(code: str) -> str:
    return f"h_{code}"


def note_field(code: str) -> str:
    return f"hn_{code}"


def grade_field(code: str) -> str:
    return f"hg_{code}"


def dast_field(index: int) -> str:
    return f"dast_{index + 1}"


class IntakeForm(forms.Form):
    substance_use_notes = forms.CharField(
        label="Substance use history", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    baseline_systolic_mmhg = forms.IntegerField(label="Systolic", required=False)
    baseline_diastolic_mmhg = forms.IntegerField(label="Diastolic", required=False)
    baseline_heart_rate_bpm = forms.IntegerField(label="Heart rate", required=False)
    notes = forms.CharField(label="Other notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    change_reason = forms.CharField(label="Reason for this new version", required=False, max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in history.ASKED_ITEMS:
            self.fields[history_field(item.code)] = forms.BooleanField(label=item.label, required=False)
            self.fields[note_field(item.code)] = forms.CharField(
                label=f"Note on {item.label.lower()}", required=False, max_length=500
            )
            if item.grades:
                self.fields[grade_field(item.code)] = forms.ChoiceField(
                    label="Child-Pugh class" if item.code == "hepatic_impairment" else "Grade",
                    choices=[("", "Not known"), *item.grades],
                    required=False,
                )
        for i, text in enumerate(dast.ITEMS):
            self.fields[dast_field(i)] = forms.ChoiceField(
                label=f"{i + 1}. {text}", choices=YES_NO, required=False, widget=forms.RadioSelect
            )

    # Grouped fields for the template: [(category label, [(item, present, note, grade|None)])].
    def history_groups(self) -> list[tuple[str, list[tuple[Any, Any, Any, Any]]]]:
        out = []
        for label, items in history.grouped():
            rows = [
                (
                    item,
                    self[history_field(item.code)],
                    self[note_field(item.code)],
                    self[grade_field(item.code)] if item.grades else None,
                )
                for item in items
            ]
            out.append((label, rows))
        return out

    def dast_fields(self) -> list[Any]:
        return [self[dast_field(i)] for i in range(len(dast.ITEMS))]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        answered = [data.get(dast_field(i)) for i in range(len(dast.ITEMS))]
        if any(answered) and not all(answered):
            first_blank = answered.index("")
            self.add_error(dast_field(first_blank), "Answer every DAST-10 question, or none of them.")
        return data

    def to_data(self, medications: list[dict[str, Any]]) -> dict[str, Any]:
        """The cleaned form as the plain data ``save_intake`` takes."""
        d = self.cleaned_data
        answers = [d.get(dast_field(i)) for i in range(len(dast.ITEMS))]
        hist = {}
        for item in history.ASKED_ITEMS:
            entry: dict[str, Any] = {
                "present": bool(d.get(history_field(item.code))),
                "note": d.get(note_field(item.code), ""),
            }
            if item.grades:
                entry["grade"] = d.get(grade_field(item.code), "")
            hist[item.code] = entry
        return {
            "history": hist,
            "medications": medications,
            "dast10_answers": [a == "yes" for a in answers] if all(answers) else None,
            "substance_use_notes": d.get("substance_use_notes", ""),
            "baseline_systolic_mmhg": d.get("baseline_systolic_mmhg"),
            "baseline_diastolic_mmhg": d.get("baseline_diastolic_mmhg"),
            "baseline_heart_rate_bpm": d.get("baseline_heart_rate_bpm"),
            "notes": d.get("notes", ""),
            "change_reason": d.get("change_reason", ""),
        }


def initial_from(data: dict[str, Any]) -> dict[str, Any]:
    """Form initial values from an intake's plain data (to start the next version from the last)."""
    initial: dict[str, Any] = {
        k: data.get(k)
        for k in (
            "substance_use_notes",
            "baseline_systolic_mmhg",
            "baseline_diastolic_mmhg",
            "baseline_heart_rate_bpm",
            "notes",
        )
    }
    for code, answer in (data.get("history") or {}).items():
        initial[history_field(code)] = bool(answer.get("present"))
        initial[note_field(code)] = answer.get("note", "")
        initial[grade_field(code)] = answer.get("grade", "")
    for i, answer in enumerate(data.get("dast10_answers") or []):
        initial[dast_field(i)] = "yes" if answer else "no"
    return initial


def medications_from_post(post: QueryDict) -> list[dict[str, Any]]:
    """Medication rows posted as parallel lists (med_name, med_dose, med_daily_mg); blank rows kept."""
    names, doses, mgs = post.getlist("med_name"), post.getlist("med_dose"), post.getlist("med_daily_mg")
    count = max(len(names), len(doses), len(mgs))

    def at(values: list[str], i: int) -> str:
        return values[i].strip() if i < len(values) else ""

    return [
        {"name": at(names, i), "dose_text": at(doses, i), "daily_dose_mg": at(mgs, i) or None}
        for i in range(count)
    ]


def medication_form_rows(
    medications: list[dict[str, Any]], errors: dict[int, dict[str, str]] | None = None, blanks: int = 0
) -> list[dict[str, Any]]:
    rows = [dict(m, errors=(errors or {}).get(i, {})) for i, m in enumerate(medications)]
    rows += [{"name": "", "dose_text": "", "daily_dose_mg": None, "errors": {}} for _ in range(blanks)]
    return rows


def apply_intake_errors(form: IntakeForm, exc: ValidationError) -> dict[int, dict[str, str]]:
    """Put the action's field-named errors on the form; return medication errors by row index."""
    med_errors: dict[int, dict[str, str]] = {}
    for key, messages in exc.message_dict.items():
        message = " ".join(messages)
        if key.startswith("medications["):
            index_text, _, field = key.removeprefix("medications[").partition("]")
            med_errors.setdefault(int(index_text), {})[field.lstrip(".") or "name"] = message
        elif key.startswith("history."):
            code = key.removeprefix("history.")
            target = note_field(code)
            form.add_error(target if target in form.fields else None, message)
        elif key == "dast10_answers":
            form.add_error(dast_field(0), message)
        elif key in form.fields:
            form.add_error(key, message)
        else:
            form.add_error(None, message)
    return med_errors


def reason_field(code: str) -> str:
    return f"reason_{code}"


class ScreeningForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(label="Overall reason", widget=forms.Textarea(attrs={"rows": 3}))
    intake_version = forms.IntegerField(widget=forms.HiddenInput)
    password = forms.CharField(
        label="Your password, to sign",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, findings: list[Finding], user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.findings = findings
        self.user = user
        for f in findings:
            self.fields[reason_field(f.code)] = forms.CharField(
                label=f"Your reason: {f.title}",
                required=False,  # required-ness is the action's rule; its error lands here
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def clean_password(self) -> str:
        from ketaclinic.accounts.actions import reauthenticate

        password = str(self.cleaned_data.get("password", ""))
        try:
            reauthenticate(self.user, password, what="signed")
        except ValidationError as exc:
            # The same rule as every signature (locked, reset by an admin, wrong), on this field.
            raise ValidationError(exc.message_dict["password"]) from None
        return password

    def finding_rows(self) -> list[tuple[Finding, Any]]:
        return [(f, self[reason_field(f.code)]) for f in self.findings]

    def item_reasons(self) -> dict[str, str]:
        return {f.code: self.cleaned_data.get(reason_field(f.code), "") for f in self.findings}

    def apply_errors(self, exc: ValidationError) -> None:
        for key, messages in exc.message_dict.items():
            message = " ".join(messages)
            target = (
                reason_field(key.removeprefix("item_reasons.")) if key.startswith("item_reasons.") else key
            )
            self.add_error(target if target in self.fields else None, message)
