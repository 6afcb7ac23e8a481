"""The structured medical history asked at intake: one item per contraindication or precaution.

Each item of reference/clinical.md §2.5 (Spravato label) and §6 (interactions and precautions) is an
item here, with the source it comes from, plus the usual intake questions a ketamine clinic asks.
Pure data: no Django. ``eligibility.py`` turns the answers into findings; this module only says
what is asked.

An answer is stored in ``Intake.history`` as ``{code: {"present": bool, "note": str, "grade": str}}``;
``grade`` is used only by graded items (hepatic impairment: Child-Pugh class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTRAINDICATION = "contraindication"
PRECAUTION = "precaution"
HISTORY = "history"

CATEGORY_LABELS = {
    CONTRAINDICATION: "Contraindications (label)",
    PRECAUTION: "Warnings and precautions",
    HISTORY: "Other history",
}


@dataclass(frozen=True)
class HistoryItem:
    code: str
    label: str
    category: str
    source: str
    help: str = ""
    # (code, label) choices for a graded item; the answer's "grade" must be one of the codes.
    grades: tuple[tuple[str, str], ...] = ()
    # Taken from the Patient record (registration), shown at intake but not asked again.
    from_patient: bool = False


CHILD_PUGH = (("A", "Child-Pugh A (mild)"), ("B", "Child-Pugh B (moderate)"), ("C", "Child-Pugh C (severe)"))

HISTORY_ITEMS: tuple[HistoryItem, ...] = (
    # Spravato label contraindications, clinical.md §2.5.
    HistoryItem(
        "aneurysmal_vascular_disease",
        "Aneurysmal vascular disease (thoracic or abdominal aorta, intracranial or peripheral arteries)",
        CONTRAINDICATION,
        "clinical.md §2.5 [S37][S38][S30]",
    ),
    HistoryItem(
        "arteriovenous_malformation",
        "Arteriovenous malformation (AVM)",
        CONTRAINDICATION,
        "clinical.md §2.5 [S37][S38][S30]",
    ),
    HistoryItem(
        "intracerebral_haemorrhage",
        "History of intracerebral haemorrhage",
        CONTRAINDICATION,
        "clinical.md §2.5 [S37][S38][S30]",
    ),
    HistoryItem(
        "hypersensitivity",
        "Hypersensitivity to ketamine, esketamine or an excipient",
        CONTRAINDICATION,
        "clinical.md §2.5 [S37]; §6 [S106]",
    ),
    # Ketalar labels: where a rise in blood pressure would be a serious hazard, clinical.md §6.
    HistoryItem(
        "uncontrolled_hypertension",
        "Uncontrolled hypertension",
        CONTRAINDICATION,
        "clinical.md §6 [S106]; §1.4 Swiss label [S19]",
        help="Resting BP above 180/100 mmHg despite treatment, or not treated.",
    ),
    HistoryItem("prior_stroke", "Prior stroke", CONTRAINDICATION, "clinical.md §6 [S106][S107]"),
    HistoryItem("thyrotoxicosis", "Thyrotoxicosis", CONTRAINDICATION, "clinical.md §6 [S106]"),
    HistoryItem(
        "eclampsia",
        "Eclampsia or pre-eclampsia",
        CONTRAINDICATION,
        "clinical.md §6 UK label [S107]",
    ),
    HistoryItem(
        "severe_cardiac_disease",
        "Severe coronary or myocardial disease",
        CONTRAINDICATION,
        "clinical.md §6 UK label [S107]",
    ),
    # Warnings and precautions, clinical.md §2.5 and §6.
    HistoryItem(
        "cerebral_trauma",
        "Head injury or cerebral trauma",
        PRECAUTION,
        "clinical.md §6 UK label [S107]",
        help="Say when in the note; the UK label lists cerebral trauma among its contraindications.",
    ),
    HistoryItem(
        "raised_icp",
        "Raised intracranial pressure",
        PRECAUTION,
        "clinical.md §6 [S106]; §2.2 [S31]",
    ),
    HistoryItem(
        "raised_iop",
        "Raised intraocular pressure or glaucoma",
        PRECAUTION,
        "clinical.md §6 [S106]",
    ),
    HistoryItem(
        "psychosis",
        "History of psychosis or schizophrenia",
        PRECAUTION,
        "clinical.md §2.5 [S28]; §6 [S5]",
    ),
    HistoryItem(
        "mania_bipolar",
        "Mania or bipolar disorder",
        PRECAUTION,
        "clinical.md §7.2 [S117] (mania among discontinuation reasons); screening rule is a local choice",
    ),
    HistoryItem(
        "substance_use_disorder",
        "Substance use disorder, including alcohol",
        PRECAUTION,
        "clinical.md §2.5; §6 [S39]",
    ),
    HistoryItem(
        "cognitive_impairment",
        "Cognitive impairment",
        PRECAUTION,
        "clinical.md §2.5 [S37][S38]",
    ),
    HistoryItem(
        "lower_urinary_tract",
        "Interstitial cystitis or lower urinary tract symptoms",
        PRECAUTION,
        "clinical.md §2.5 [S38]; §6 [S108] (exclusion is a local choice, unconfirmed as a guideline)",
    ),
    HistoryItem(
        "hepatic_impairment",
        "Hepatic impairment",
        PRECAUTION,
        "clinical.md §2.5; §6 [S39][S106]",
        help="Give the Child-Pugh class.",
        grades=CHILD_PUGH,
    ),
    HistoryItem(
        "hypertensive_encephalopathy",
        "History of hypertensive encephalopathy",
        PRECAUTION,
        "clinical.md §2.2 [S30]",
    ),
    # Usual intake questions; each says where its rule comes from.
    HistoryItem(
        "hypertension",
        "Hypertension (treated, controlled)",
        HISTORY,
        "clinical.md §1.4 Yale series [S16]",
    ),
    HistoryItem(
        "cardiac_disease",
        "Other cardiac disease (arrhythmia, heart failure, valve disease)",
        HISTORY,
        "clinical.md §6 [S106] (BP and heart-rate rise); local choice",
    ),
    HistoryItem(
        "seizure_disorder",
        "Seizure disorder or epilepsy",
        HISTORY,
        "clinical.md §6 [S103][S105] (seizure threshold); screening rule is a local choice, unconfirmed",
    ),
    HistoryItem(
        "respiratory_disease",
        "Significant respiratory disease or sleep apnoea",
        HISTORY,
        "clinical.md §2.3 REMS [S33] (respiratory depression); local choice",
    ),
    # From the registration record, not asked again at intake.
    HistoryItem(
        "pregnancy",
        "Pregnancy",
        PRECAUTION,
        "clinical.md §2.5; §6 [S38][S30]",
        from_patient=True,
    ),
    HistoryItem(
        "breastfeeding",
        "Breastfeeding",
        PRECAUTION,
        "clinical.md §2.5; §6 [S38][S30]",
        from_patient=True,
    ),
)

ITEMS_BY_CODE: dict[str, HistoryItem] = {item.code: item for item in HISTORY_ITEMS}
ASKED_ITEMS: tuple[HistoryItem, ...] = tuple(item for item in HISTORY_ITEMS if not item.from_patient)


def item(code: str) -> HistoryItem:
    return ITEMS_BY_CODE[code]


def present_codes(history: dict[str, Any]) -> frozenset[str]:
    """The codes answered "present" in a stored history mapping."""
    return frozenset(code for code, answer in history.items() if (answer or {}).get("present"))


def grade_of(history: dict[str, Any], code: str) -> str:
    return str((history.get(code) or {}).get("grade") or "")


def grouped(items: tuple[HistoryItem, ...] = ASKED_ITEMS) -> list[tuple[str, list[HistoryItem]]]:
    """Items grouped by category, in CATEGORY_LABELS order, for forms and pages."""
    return [(CATEGORY_LABELS[cat], [i for i in items if i.category == cat]) for cat in CATEGORY_LABELS]
