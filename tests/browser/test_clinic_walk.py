"""Issue 2's walk in a real browser: a nurse registers a patient and takes the intake, a prescriber
reviews the findings and signs eligibility, and the auditor sees both in the audit trail."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ketaclinic.patients.models import Patient, Screening
from tests.browser.conftest import sign_in, sign_out
from tests.conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_nurse_registers_and_takes_intake_prescriber_signs_auditor_sees_it(page, nurse, prescriber, auditor):
    # The nurse registers a new patient.
    sign_in(page, "nate", PASSWORD)
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("MRN").fill("A-2042")
    page.get_by_label("Given name").fill("Jordan")
    page.get_by_label("Family name").fill("Reyes")
    page.get_by_label("Date of birth").fill("1987-05-14")
    page.get_by_label("Sex").select_option("male")
    page.get_by_label("Pregnancy status").select_option("not_applicable")
    page.get_by_label("Escort who takes them home").fill("Ana Reyes")
    page.get_by_label("First weight").fill("180")
    page.get_by_label("Weight unit").select_option("lb")
    page.get_by_label("Treatment-resistant depression").check()
    page.get_by_role("button", name="Register").click()
    expect(page.locator("h1")).to_contain_text("Jordan Reyes")
    expect(page.locator("main")).to_contain_text("81.65")  # 180 lb in kg, with the unit shown
    patient = Patient.objects.get(mrn="A-2042")

    # ... and takes the intake: hypertension, a benzodiazepine above 8 mg diazepam-equivalent, BP 150/95.
    page.get_by_role("link", name=re.compile("intake", re.I)).first.click()
    page.get_by_label("Hypertension", exact=False).first.check()
    page.locator("input[name=med_name]").first.fill("Klonopin")
    page.locator("input[name=med_dose]").first.fill("2 mg twice daily")
    page.get_by_label("Systolic").fill("150")
    page.get_by_label("Diastolic").fill("95")
    page.get_by_label("Heart rate").fill("78")
    page.get_by_role("button", name=re.compile("^Save intake")).click()
    expect(page.locator("main")).to_contain_text("clonazepam")
    sign_out(page)

    # The prescriber reviews the findings and signs "eligible with precautions".
    sign_in(page, "priya", PASSWORD)
    page.goto(f"{page.base_url}/patients/{patient.pk}/screening/")
    findings = page.locator(".finding")
    expect(findings.first).to_be_visible()
    reasons = page.get_by_label(re.compile("^Your reason"))
    for i in range(reasons.count()):
        reasons.nth(i).fill("Discussed with the patient; BP to be rechecked before each session.")
    page.get_by_label("Eligible with precautions").check()
    page.get_by_label("Overall reason").fill(
        "Benefits outweigh risks with BP monitoring and benzodiazepine taper."
    )
    page.get_by_label("Your password, to sign").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^Sign as")).click()
    expect(page.locator("main")).to_contain_text("Eligible with precautions")
    screening = Screening.objects.get(patient=patient)
    assert screening.signed_by == prescriber and screening.is_current()
    codes = {f["code"] for f in screening.findings}
    assert {"bp_elevated", "benzodiazepine_high_dose"} <= codes
    sign_out(page)

    # The auditor finds both in the audit trail.
    sign_in(page, "otto", PASSWORD)
    page.get_by_role("link", name="Audit trail").click()
    trail = page.locator("main")
    expect(trail).to_contain_text("patient.register")
    expect(trail).to_contain_text("intake.create")
    expect(trail).to_contain_text("screening.sign")
    expect(trail).to_contain_text("nate")
    expect(trail).to_contain_text("priya")
