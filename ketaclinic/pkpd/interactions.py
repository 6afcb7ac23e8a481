"""Medications and conditions that change ketamine exposure, as cited changes applied by route.

Ketamine is metabolised by CYP3A4 and CYP2B6 (clinical.md section 6 [S99][S103]). The measured
interaction studies gave S-ketamine by mouth, where the liver and gut wall see the drug before the
circulation does (first pass), so an oral exposure change is far larger than an IV one: rifampicin
lowered the IV AUC by 14% but the oral AUC by 86% (Peltoniemi 2012). The engine splits each
measured change into a clearance part (the IV change, which applies to every route) and a
first-pass part (the rest of the oral change, which applies to what is swallowed: the oral route,
the swallowed part of an esketamine spray, and the sublingual route, as ASSUMED for the latter).
Where only the oral change was measured, the IV change is ASSUMED to be none and the warning says
so. A medication of a CYP class without measured ketamine data, and hepatic impairment (no
exposure factor in the notes), are warnings only: they are not applied to the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Interaction:
    """A measured change in ketamine exposure caused by another drug.

    Attributes
    ----------
    drug : str
        Generic name (lower case), as the intake's formulary records it.
    mechanism : str
        Enzyme and direction, in words.
    oral_auc_factor : float
        Ratio of the oral AUC with the drug to without it.
    iv_auc_factor : float or None
        Ratio of the IV AUC; None when not measured (ASSUMED 1).
    source : str
        Where the numbers come from (reference/pkpd.md section 9).
    """

    drug: str
    mechanism: str
    oral_auc_factor: float
    iv_auc_factor: float | None
    source: str

    @property
    def clearance_factor(self) -> float:
        """Factor on clearance: the IV exposure change inverted (1 when not measured)."""
        return 1.0 / (self.iv_auc_factor or 1.0)

    @property
    def first_pass_factor(self) -> float:
        """Factor on the fraction of a swallowed dose that escapes first pass."""
        return self.oral_auc_factor / (self.iv_auc_factor or 1.0)

    def describe(self) -> str:
        iv = (
            "IV exposure change not measured (ASSUMED none)"
            if self.iv_auc_factor is None
            else f"IV AUC x{self.iv_auc_factor:g}"
        )
        return f"{self.drug} ({self.mechanism}): oral AUC x{self.oral_auc_factor:g}, {iv}; {self.source}"


_PELTONIEMI_2011 = "Peltoniemi et al., Clin Pharmacol Ther 2011;90:296 (oral S-ketamine)"
_PELTONIEMI_2012 = "Peltoniemi et al., Basic Clin Pharmacol Toxicol 2012;111:325 (S-ketamine)"

#: generic name -> measured interaction (reference/pkpd.md section 9).
INTERACTIONS: Mapping[str, Interaction] = MappingProxyType(
    {
        i.drug: i
        for i in (
            Interaction(
                "clarithromycin",
                "CYP3A4 inhibitor",
                2.6,
                None,
                "Hagelberg et al., Eur J Pain 2010;14:625 (oral S-ketamine: Cmax x3.6, AUC x2.6)",
            ),
            Interaction("ticlopidine", "CYP2B6 inhibitor", 2.4, None, _PELTONIEMI_2011),
            Interaction("itraconazole", "CYP3A4 inhibitor", 1.0, None, _PELTONIEMI_2011 + ": no effect"),
            Interaction("rifampicin", "CYP3A4/2B6 inducer", 0.14, 0.86, _PELTONIEMI_2012),
            Interaction(
                "st john's wort",
                "CYP3A4 inducer",
                0.42,
                None,
                _PELTONIEMI_2012 + " (oral AUC -58%, Cmax -66%)",
            ),
        )
    }
)

HEPATIC_GRADES = ("mild", "moderate", "severe")


def measured(medications: Iterable[str]) -> list[Interaction]:
    """The measured interactions among `medications` (generic names, any case), in table order.

    Examples
    --------
    >>> [i.drug for i in measured(["Sertraline", "Rifampicin"])]
    ['rifampicin']
    """
    names = {m.strip().lower() for m in medications}
    return [i for name, i in INTERACTIONS.items() if name in names]


def factors(medications: Iterable[str]) -> tuple[float, float]:
    """Combined (clearance factor, first-pass factor) of the measured interactions (multiplied).

    Examples
    --------
    >>> cl, fp = factors(["rifampicin"])
    >>> round(cl, 3), round(fp, 3)
    (1.163, 0.163)
    >>> factors([])
    (1.0, 1.0)
    """
    cl = fp = 1.0
    for i in measured(medications):
        cl *= i.clearance_factor
        fp *= i.first_pass_factor
    return cl, fp


def warnings(medications: Iterable[str], hepatic: str | None, routes: Iterable[str]) -> list[str]:
    """What the prediction says about the medications and the liver: applied changes, and the
    ones it cannot quantify."""
    out = []
    swallowed = {"oral", "sublingual", "nasal"} & set(routes)
    for i in measured(medications):
        applied = "clearance and first pass" if swallowed else "clearance (no first pass on this route)"
        out.append(f"interaction applied to {applied}: {i.describe()}")
    if hepatic in HEPATIC_GRADES:
        out.append(
            f"hepatic impairment ({hepatic}): exposure may be higher and last longer; no published "
            "exposure factor in the reference notes, so NOT applied to the numbers (Spravato: "
            "monitor longer in moderate impairment, not recommended in severe, clinical.md section 1)"
        )
    return out
