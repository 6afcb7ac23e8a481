"""A built-in formulary: drug names (generic and brand) to the interaction classes that matter for ketamine.

Classes follow reference/clinical.md §6 and the REMS monitoring form (§2.4): benzodiazepines (with a
diazepam-equivalent factor), lamotrigine, MAOIs, psychostimulants, opioids, other CNS depressants,
theophylline/aminophylline, thyroid hormones, and CYP3A4/CYP2B6 inhibitors and inducers.

Diazepam equivalents are from the Ashton Manual: Ashton CH, "Benzodiazepines: How They Work and How to
Withdraw", 2002, table of approximate oral doses equivalent to diazepam 10 mg (same values in her
equivalence table revised 2007, benzo.org.uk/bzequiv.htm). Equivalences are approximate and disputed:
where Ashton gives a range, or the VA/DoD SUD guideline 2021 (Table 7, read via
eguideline.guidelinecentral.com) differs from Ashton, the factor is marked ``factor_uncertain``
and the page says so. Midazolam is not in Ashton; its factor is the WHO 2009 withdrawal guideline's
(NCBI Bookshelf NBK310652, Table 8: 2.5 mg midazolam = 5 mg diazepam), also marked uncertain.

Pure Python; no Django. Lookup is case-insensitive and forgiving of strengths and release suffixes:

>>> match("XANAX XR 1 mg").generic
'alprazolam'
>>> match("Wonderdrug").recognised
False
>>> parse_daily_dose_mg("0.5 mg three times daily")
Decimal('1.5')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

BENZODIAZEPINE = "benzodiazepine"
LAMOTRIGINE = "lamotrigine"
MAOI = "maoi"
STIMULANT = "stimulant"
OPIOID = "opioid"
CNS_DEPRESSANT = "cns_depressant"
THEOPHYLLINE = "theophylline"
THYROID = "thyroid_hormone"
CYP_INHIBITOR = "cyp_inhibitor"
CYP_INDUCER = "cyp_inducer"

CLASS_LABELS = {
    BENZODIAZEPINE: "Benzodiazepine",
    LAMOTRIGINE: "Lamotrigine",
    MAOI: "MAOI",
    STIMULANT: "Psychostimulant",
    OPIOID: "Opioid",
    CNS_DEPRESSANT: "CNS depressant",
    THEOPHYLLINE: "Theophylline/aminophylline",
    THYROID: "Thyroid hormone",
    CYP_INHIBITOR: "CYP3A4/2B6 inhibitor",
    CYP_INDUCER: "CYP3A4/2B6 inducer",
}

ASHTON = "Ashton Manual 2002, diazepam 10 mg equivalents"


@dataclass(frozen=True)
class Drug:
    generic: str
    classes: tuple[str, ...]
    brands: tuple[str, ...] = ()
    # Ashton's equivalent oral dose (mg) to diazepam 10 mg; factor = 10 / this.
    equivalent_to_diazepam_10mg: float | None = None
    factor_uncertain: bool = False
    note: str = ""

    @property
    def diazepam_factor(self) -> float | None:
        if self.equivalent_to_diazepam_10mg is None:
            return None
        return 10.0 / self.equivalent_to_diazepam_10mg


def _benzo(generic: str, eq_mg: float | None, *brands: str, uncertain: bool = False, note: str = "") -> Drug:
    return Drug(generic, (BENZODIAZEPINE, CNS_DEPRESSANT), brands, eq_mg, uncertain, note)


DRUGS: tuple[Drug, ...] = (
    # Benzodiazepines. Ashton value first; "VA/DoD" where that guideline differs (uncertain).
    _benzo("alprazolam", 0.5, "xanax", "xanax xr", "niravam", uncertain=True, note="VA/DoD: 1 mg"),
    _benzo("bromazepam", 5.5, "lexotan", "lectopam", uncertain=True, note="Ashton: 5-6 mg"),
    _benzo("chlordiazepoxide", 25, "librium"),
    _benzo("clobazam", 20, "onfi", "frisium", "sympazan"),
    _benzo("clonazepam", 0.5, "klonopin", "rivotril", uncertain=True, note="VA/DoD: 1 mg"),
    _benzo("clorazepate", 15, "tranxene"),
    _benzo("diazepam", 10, "valium", "diastat", "valtoco"),
    _benzo("estazolam", 1.5, "prosom", uncertain=True, note="Ashton: 1-2 mg; VA/DoD: 1 mg"),
    _benzo("flunitrazepam", 1, "rohypnol"),
    _benzo("flurazepam", 22.5, "dalmane", uncertain=True, note="Ashton: 15-30 mg; VA/DoD: 15 mg"),
    _benzo("loprazolam", 1.5, uncertain=True, note="Ashton: 1-2 mg"),
    _benzo("lorazepam", 1, "ativan", "loreev", uncertain=True, note="VA/DoD: 2 mg"),
    _benzo("lormetazepam", 1.5, "noctamid", uncertain=True, note="Ashton: 1-2 mg"),
    _benzo("nitrazepam", 10, "mogadon"),
    _benzo("oxazepam", 20, "serax", "serepax", uncertain=True, note="VA/DoD: 30 mg"),
    _benzo("quazepam", 20, "doral", uncertain=True, note="VA/DoD: 10 mg"),
    _benzo("temazepam", 20, "restoril", "normison", uncertain=True, note="VA/DoD: 15 mg"),
    _benzo("triazolam", 0.5, "halcion", uncertain=True, note="VA/DoD: 0.25 mg"),
    _benzo("midazolam", 5, "versed", "nayzilam", uncertain=True, note="not in Ashton; WHO 2009 Table 8"),
    # Lamotrigine: blunts ketamine's effects (Anand 2000), clinical.md §6 [S99][S102].
    Drug("lamotrigine", (LAMOTRIGINE,), ("lamictal", "lamictal xr", "lamictal odt", "subvenite")),
    # MAOIs: BP rise with esketamine; on the REMS form, clinical.md §6 [S101][S35].
    Drug("phenelzine", (MAOI,), ("nardil",)),
    Drug("tranylcypromine", (MAOI,), ("parnate",)),
    Drug("isocarboxazid", (MAOI,), ("marplan",)),
    Drug("selegiline", (MAOI,), ("emsam", "eldepryl", "zelapar")),
    Drug("rasagiline", (MAOI,), ("azilect",)),
    Drug("safinamide", (MAOI,), ("xadago",)),
    Drug("moclobemide", (MAOI,), ("aurorix", "manerix")),
    Drug("linezolid", (MAOI,), ("zyvox",), note="antibiotic with MAO-inhibiting activity"),
    # Psychostimulants: BP rise, clinical.md §6 [S101][S35].
    Drug("amphetamine", (STIMULANT,), ("adderall", "adderall xr", "mydayis", "evekeo", "adzenys")),
    Drug("dextroamphetamine", (STIMULANT,), ("dexedrine", "zenzedi", "procentra")),
    Drug("lisdexamfetamine", (STIMULANT,), ("vyvanse", "elvanse")),
    Drug("methamphetamine", (STIMULANT,), ("desoxyn",)),
    Drug(
        "methylphenidate",
        (STIMULANT,),
        ("ritalin", "ritalin la", "concerta", "metadate", "methylin", "daytrana", "quillichew", "jornay pm"),
    ),
    Drug("dexmethylphenidate", (STIMULANT,), ("focalin", "focalin xr")),
    Drug("modafinil", (STIMULANT,), ("provigil",)),
    Drug("armodafinil", (STIMULANT,), ("nuvigil",)),
    Drug("phentermine", (STIMULANT,), ("adipex-p", "lomaira"), note="sympathomimetic amine"),
    # Opioids: additive CNS and respiratory depression, clinical.md §6 [S104][S103].
    Drug("oxycodone", (OPIOID,), ("oxycontin", "roxicodone", "xtampza", "percocet", "endocet")),
    Drug("hydrocodone", (OPIOID,), ("vicodin", "norco", "lortab", "hysingla", "zohydro")),
    Drug("morphine", (OPIOID,), ("ms contin", "kadian")),
    Drug("hydromorphone", (OPIOID,), ("dilaudid", "exalgo")),
    Drug("fentanyl", (OPIOID,), ("duragesic", "actiq", "fentora")),
    Drug("tramadol", (OPIOID,), ("ultram", "conzip")),
    Drug("tapentadol", (OPIOID,), ("nucynta",)),
    Drug("codeine", (OPIOID,), ("tylenol with codeine", "tylenol #3")),
    Drug("methadone", (OPIOID,), ("dolophine", "methadose")),
    Drug("buprenorphine", (OPIOID,), ("subutex", "butrans", "belbuca", "sublocade", "suboxone", "zubsolv")),
    Drug("oxymorphone", (OPIOID,), ("opana",)),
    Drug("meperidine", (OPIOID,), ("demerol", "pethidine")),
    # Other CNS depressants, clinical.md §6 [S104][S103][S101]: z-drugs, barbiturates, gabapentinoids,
    # sedating antihistamines, muscle relaxants, sedating antidepressants/antipsychotics, alcohol.
    Drug("zolpidem", (CNS_DEPRESSANT,), ("ambien", "ambien cr", "edluar", "intermezzo", "stilnox")),
    Drug("zaleplon", (CNS_DEPRESSANT,), ("sonata",)),
    Drug("zopiclone", (CNS_DEPRESSANT,), ("imovane", "zimovane")),
    Drug("eszopiclone", (CNS_DEPRESSANT,), ("lunesta",)),
    Drug("phenobarbital", (CNS_DEPRESSANT, CYP_INDUCER), ("luminal",)),
    Drug("butalbital", (CNS_DEPRESSANT,), ("fioricet", "fiorinal")),
    Drug("secobarbital", (CNS_DEPRESSANT,), ("seconal",)),
    Drug("gabapentin", (CNS_DEPRESSANT,), ("neurontin", "gralise", "horizant")),
    Drug("pregabalin", (CNS_DEPRESSANT,), ("lyrica",)),
    Drug("diphenhydramine", (CNS_DEPRESSANT,), ("benadryl", "zzzquil", "unisom sleepgels")),
    Drug("doxylamine", (CNS_DEPRESSANT,), ("unisom", "unisom sleeptabs", "nyquil")),
    Drug("hydroxyzine", (CNS_DEPRESSANT,), ("atarax", "vistaril")),
    Drug("promethazine", (CNS_DEPRESSANT,), ("phenergan",)),
    Drug("cyclobenzaprine", (CNS_DEPRESSANT,), ("flexeril", "amrix")),
    Drug("carisoprodol", (CNS_DEPRESSANT,), ("soma",)),
    Drug("baclofen", (CNS_DEPRESSANT,), ("lioresal", "ozobax")),
    Drug("tizanidine", (CNS_DEPRESSANT,), ("zanaflex",)),
    Drug("methocarbamol", (CNS_DEPRESSANT,), ("robaxin",)),
    Drug("sodium oxybate", (CNS_DEPRESSANT,), ("xyrem", "xywav", "lumryz")),
    Drug("quetiapine", (CNS_DEPRESSANT,), ("seroquel", "seroquel xr")),
    Drug("mirtazapine", (CNS_DEPRESSANT,), ("remeron",)),
    Drug("trazodone", (CNS_DEPRESSANT,), ("desyrel", "oleptro")),
    Drug("alcohol", (CNS_DEPRESSANT,), ("ethanol",)),
    # Theophylline/aminophylline: lower the seizure threshold, clinical.md §6 [S103][S105].
    Drug("theophylline", (THEOPHYLLINE,), ("theo-24", "theo-dur", "uniphyl", "elixophyllin", "theochron")),
    Drug("aminophylline", (THEOPHYLLINE,), ("phyllocontin",)),
    # Thyroid hormones: hypertension and tachycardia, clinical.md §6 [S103].
    Drug(
        "levothyroxine",
        (THYROID,),
        ("synthroid", "levoxyl", "unithroid", "tirosint", "euthyrox", "eltroxin"),
    ),
    Drug("liothyronine", (THYROID,), ("cytomel",)),
    Drug("thyroid desiccated", (THYROID,), ("armour thyroid", "np thyroid")),
    # Metabolism: CYP2B6 and CYP3A4, clinical.md §6 [S99][S103].
    Drug("clarithromycin", (CYP_INHIBITOR,), ("biaxin",)),
    Drug("ketoconazole", (CYP_INHIBITOR,), ("nizoral",)),
    Drug("itraconazole", (CYP_INHIBITOR,), ("sporanox",)),
    Drug("voriconazole", (CYP_INHIBITOR,), ("vfend",)),
    Drug("ritonavir", (CYP_INHIBITOR,), ("norvir", "paxlovid")),
    Drug("ticlopidine", (CYP_INHIBITOR,), ("ticlid",)),
    Drug("clopidogrel", (CYP_INHIBITOR,), ("plavix",), note="CYP2B6 inhibitor"),
    Drug("rifampicin", (CYP_INDUCER,), ("rifampin", "rifadin", "rimactane")),
    Drug("carbamazepine", (CYP_INDUCER,), ("tegretol", "carbatrol", "equetro")),
    Drug("phenytoin", (CYP_INDUCER,), ("dilantin",)),
    Drug("st john's wort", (CYP_INDUCER,), ("hypericum", "st johns wort")),
    # Common medicines with no interaction class in clinical.md §6: recognised, so the intake does not
    # flag them for review, but they raise no interaction finding. Notes say what a prescriber may
    # still want to know.
    *(
        Drug(generic, (), brands)
        for generic, brands in (
            ("sertraline", ("zoloft", "lustral")),
            ("fluoxetine", ("prozac", "sarafem")),
            ("paroxetine", ("paxil", "pexeva", "seroxat")),
            ("citalopram", ("celexa", "cipramil")),
            ("escitalopram", ("lexapro", "cipralex")),
            ("fluvoxamine", ("luvox",)),
            ("venlafaxine", ("effexor", "effexor xr")),
            ("desvenlafaxine", ("pristiq",)),
            ("duloxetine", ("cymbalta",)),
            ("levomilnacipran", ("fetzima",)),
            ("vortioxetine", ("trintellix", "brintellix")),
            ("vilazodone", ("viibryd",)),
            ("lithium", ("lithobid", "eskalith", "priadel")),
            ("valproate", ("depakote", "depakene", "divalproex", "valproic acid", "epilim")),
            ("aripiprazole", ("abilify", "abilify maintena")),
            ("brexpiprazole", ("rexulti",)),
            ("cariprazine", ("vraylar",)),
            ("lurasidone", ("latuda",)),
            ("lisinopril", ("zestril", "prinivil")),
            ("amlodipine", ("norvasc", "istin")),
            ("losartan", ("cozaar",)),
            ("metoprolol", ("lopressor", "toprol xl")),
            ("propranolol", ("inderal", "inderal la")),
            ("hydrochlorothiazide", ("microzide", "hctz")),
            ("clonidine", ("catapres", "kapvay")),
            ("prazosin", ("minipress",)),
            ("atorvastatin", ("lipitor",)),
            ("rosuvastatin", ("crestor",)),
            ("simvastatin", ("zocor",)),
            ("metformin", ("glucophage",)),
            ("omeprazole", ("prilosec", "losec")),
            ("pantoprazole", ("protonix",)),
            ("ondansetron", ("zofran",)),
            ("ibuprofen", ("advil", "motrin", "nurofen")),
            ("naproxen", ("aleve", "naprosyn")),
            ("acetaminophen", ("tylenol", "paracetamol", "panadol")),
            ("cetirizine", ("zyrtec",)),
            ("loratadine", ("claritin",)),
            ("ethinylestradiol/levonorgestrel", ("combined oral contraceptive", "levora", "seasonique")),
            ("naltrexone", ("revia", "vivitrol")),
            ("sumatriptan", ("imitrex",)),
        )
    ),
    # Bupropion lowers the seizure threshold (its label); clinical.md lists no ketamine interaction.
    Drug(
        "bupropion",
        (),
        ("wellbutrin", "wellbutrin xl", "wellbutrin sr", "zyban", "aplenzin"),
        note="lowers the seizure threshold (bupropion label); no ketamine interaction in clinical.md",
    ),
)

_BY_NAME: dict[str, Drug] = {}
for _drug in DRUGS:
    for _name in (_drug.generic, *_drug.brands):
        _BY_NAME[_name] = _drug

# Words that qualify a product without changing the drug: release forms, salts, dose forms.
_QUALIFIERS = frozenset(
    "xr er cr sr xl la odt cd ir dr hcl hydrochloride sodium potassium mesylate maleate tartrate "
    "sulfate sulphate besylate tablet tablets tab tabs capsule capsules cap caps oral patch "
    "solution spray".split()
)
_STRENGTH = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|ug|g|ml|%)(?=\W|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    """What the formulary made of a name as entered."""

    entered: str
    recognised: bool
    generic: str = ""
    classes: tuple[str, ...] = ()
    diazepam_factor: float | None = None
    factor_uncertain: bool = False
    note: str = ""
    components: tuple[str, ...] = field(default=())

    @property
    def class_labels(self) -> list[str]:
        return [CLASS_LABELS[c] for c in self.classes]


def normalise(name: str) -> str:
    text = name.lower().replace("’", "'").strip()
    text = _STRENGTH.sub(" ", text)
    return " ".join(text.split())


def _lookup(key: str) -> Drug | None:
    if key in _BY_NAME:
        return _BY_NAME[key]
    words = key.split()
    while words and (words[-1] in _QUALIFIERS or words[-1].replace(".", "").isdigit()):
        words.pop()
        if " ".join(words) in _BY_NAME:
            return _BY_NAME[" ".join(words)]
    return None


def match(name: str) -> Match:
    """Match a drug name, generic or brand, case-insensitively; combinations match each component."""
    entered = name.strip()
    key = normalise(entered)
    drug = _lookup(key)
    if drug is not None:
        return _to_match(entered, [drug])
    # Combination products: "oxycodone/acetaminophen", "buprenorphine and naloxone".
    parts = [p for p in re.split(r"\s*(?:/|\+|,|&|\band\b|\bwith\b)\s*", key) if p]
    found = [d for d in (_lookup(p) for p in parts) if d is not None]
    if len(parts) > 1 and found:
        return _to_match(entered, list(dict.fromkeys(found)))
    return Match(entered=entered, recognised=False, note="not in the built-in formulary; review")


def _to_match(entered: str, drugs: list[Drug]) -> Match:
    classes = tuple(dict.fromkeys(c for d in drugs for c in d.classes))
    benzos = [d for d in drugs if d.diazepam_factor is not None]
    factor = benzos[0].diazepam_factor if len(benzos) == 1 else None
    return Match(
        entered=entered,
        recognised=True,
        generic=" / ".join(d.generic for d in drugs),
        classes=classes,
        diazepam_factor=factor,
        factor_uncertain=any(d.factor_uncertain for d in benzos),
        note="; ".join(d.note for d in drugs if d.note),
        components=tuple(d.generic for d in drugs),
    )


def diazepam_equivalent_mg(m: Match, daily_dose_mg: Decimal | None) -> Decimal | None:
    """Daily diazepam-equivalent dose, or None when the drug has no factor or the dose is unknown."""
    if m.diazepam_factor is None or daily_dose_mg is None:
        return None
    return (Decimal(daily_dose_mg) * Decimal(str(m.diazepam_factor))).quantize(Decimal("0.01"))


# Doses a day for each way of writing a frequency.
_FREQUENCIES: tuple[tuple[str, int], ...] = (
    (r"\b(?:qid|q\.i\.d\.?|four times (?:a|per) day|four times daily|4 ?x ?(?:/|a |per )?day|q6h)\b", 4),
    (r"\b(?:tid|t\.i\.d\.?|three times (?:a|per) day|three times daily|3 ?x ?(?:/|a |per )?day|q8h)\b", 3),
    (r"\b(?:bid|b\.i\.d\.?|twice (?:a|per) day|twice daily|2 ?x ?(?:/|a |per )?day|q12h)\b", 2),
    (
        r"\b(?:once (?:a|per) day|once daily|daily|qd|od|qam|qpm|qhs|hs|nightly|at night|at bedtime"
        r"|every (?:morning|evening|night)|in the (?:morning|evening)|/day|per day|a day)\b",
        1,
    ),
)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug|g)\b", re.IGNORECASE)
_AS_NEEDED = re.compile(r"\b(?:prn|as needed|when needed|weekly|monthly|every other day)\b", re.IGNORECASE)
_UNIT_TO_MG = {"mg": Decimal(1), "g": Decimal(1000), "mcg": Decimal("0.001")}


def parse_daily_dose_mg(dose_text: str) -> Decimal | None:
    """Regular daily dose in mg from text like "1 mg twice daily"; None when it cannot be told.

    Doses taken as needed, less often than daily, or written with several amounts are not guessed:
    the page asks for the daily mg instead.
    """
    text = dose_text.lower().strip()
    amounts = _AMOUNT.findall(text)
    if len(amounts) != 1 or _AS_NEEDED.search(text):
        return None
    value, unit = amounts[0]
    unit = "mcg" if unit in ("µg", "ug") else unit
    per_day = next((n for pattern, n in _FREQUENCIES if re.search(pattern, text)), None)
    if per_day is None:
        return None
    return Decimal(value) * _UNIT_TO_MG[unit] * per_day
