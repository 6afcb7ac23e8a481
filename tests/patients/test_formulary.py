"""The built-in formulary: brand -> generic, case-insensitive, classes, diazepam equivalents. No database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ketaclinic.patients import formulary as fx


@pytest.mark.parametrize(
    ("name", "generic", "cls"),
    [
        ("Xanax", "alprazolam", fx.BENZODIAZEPINE),
        ("Klonopin", "clonazepam", fx.BENZODIAZEPINE),
        ("Ativan", "lorazepam", fx.BENZODIAZEPINE),
        ("Valium", "diazepam", fx.BENZODIAZEPINE),
        ("Lamictal", "lamotrigine", fx.LAMOTRIGINE),
        ("Nardil", "phenelzine", fx.MAOI),
        ("Parnate", "tranylcypromine", fx.MAOI),
        ("Emsam", "selegiline", fx.MAOI),
        ("Adderall", "amphetamine", fx.STIMULANT),
        ("Ritalin", "methylphenidate", fx.STIMULANT),
        ("Vyvanse", "lisdexamfetamine", fx.STIMULANT),
        ("Provigil", "modafinil", fx.STIMULANT),
        ("Nuvigil", "armodafinil", fx.STIMULANT),
        ("OxyContin", "oxycodone", fx.OPIOID),
        ("Synthroid", "levothyroxine", fx.THYROID),
        ("Theo-24", "theophylline", fx.THEOPHYLLINE),
        ("aminophylline", "aminophylline", fx.THEOPHYLLINE),
        ("Ambien", "zolpidem", fx.CNS_DEPRESSANT),
        ("Lyrica", "pregabalin", fx.CNS_DEPRESSANT),
        ("Benadryl", "diphenhydramine", fx.CNS_DEPRESSANT),
        ("phenobarbital", "phenobarbital", fx.CNS_DEPRESSANT),
        ("Tegretol", "carbamazepine", fx.CYP_INDUCER),
        ("Biaxin", "clarithromycin", fx.CYP_INHIBITOR),
    ],
)
def test_brand_and_generic_names_map_to_classes(name, generic, cls):
    m = fx.match(name)
    assert m.recognised
    assert m.generic == generic
    assert cls in m.classes


@pytest.mark.parametrize(
    "spelling", ["xanax", "XANAX", "  XaNaX ", "Xanax XR", "xanax 0.5 mg", "Xanax XR 1mg tablets"]
)
def test_case_strength_and_release_form_do_not_matter(spelling):
    assert fx.match(spelling).generic == "alprazolam"


def test_brand_with_a_number_in_its_name_is_kept_whole():
    assert fx.match("THEO-24").generic == "theophylline"


def test_combination_product_matches_each_known_component():
    m = fx.match("oxycodone/acetaminophen")
    assert m.recognised and m.components == ("oxycodone", "acetaminophen")
    assert m.classes == (fx.OPIOID,)


@pytest.mark.parametrize("name", ["Zoloft 50 mg", "Wellbutrin XL", "lisinopril", "Lexapro", "metformin"])
def test_common_medicines_without_an_interaction_class_are_recognised_not_flagged(name):
    m = fx.match(name)
    assert m.recognised and m.classes == () and m.diazepam_factor is None


def test_unknown_name_is_kept_and_flagged():
    m = fx.match("Zyxoprilan")
    assert not m.recognised
    assert m.entered == "Zyxoprilan"
    assert m.classes == ()
    assert "review" in m.note


def test_at_least_eighty_names_including_brands():
    names = {n for d in fx.DRUGS for n in (d.generic, *d.brands)}
    assert len(names) >= 80
    assert len({d.generic for d in fx.DRUGS}) >= 60


def test_every_benzodiazepine_carries_a_factor_and_every_class_is_labelled():
    for drug in fx.DRUGS:
        if fx.BENZODIAZEPINE in drug.classes:
            assert drug.diazepam_factor is not None, drug.generic
        for cls in drug.classes:
            assert cls in fx.CLASS_LABELS


@pytest.mark.parametrize(
    ("name", "daily_mg", "eq_mg"),
    [
        # Ashton 2002: diazepam 10 mg = alprazolam 0.5 = clonazepam 0.5 = lorazepam 1 = temazepam 20.
        ("alprazolam", "1", "20.00"),
        ("clonazepam", "0.5", "10.00"),
        ("lorazepam", "2", "20.00"),
        ("diazepam", "8", "8.00"),
        ("temazepam", "20", "10.00"),
        ("chlordiazepoxide", "25", "10.00"),
    ],
)
def test_diazepam_equivalents_follow_ashton(name, daily_mg, eq_mg):
    assert fx.diazepam_equivalent_mg(fx.match(name), Decimal(daily_mg)) == Decimal(eq_mg)


def test_uncertain_equivalents_are_marked():
    assert fx.match("alprazolam").factor_uncertain  # VA/DoD says 1 mg, Ashton 0.5 mg
    assert not fx.match("diazepam").factor_uncertain


def test_no_equivalent_without_a_dose_or_for_a_non_benzodiazepine():
    assert fx.diazepam_equivalent_mg(fx.match("alprazolam"), None) is None
    assert fx.diazepam_equivalent_mg(fx.match("oxycodone"), Decimal(10)) is None


@pytest.mark.parametrize(
    ("text", "mg"),
    [
        ("1 mg twice daily", "2"),
        ("0.5mg BID", "1.0"),
        ("0.5 mg three times daily", "1.5"),
        ("2 mg tid", "6"),
        ("1 mg qid", "4"),
        ("10 mg at night", "10"),
        ("5 mg once daily", "5"),
        ("100 mcg daily", "0.100"),
        ("20 mg/day", "20"),
    ],
)
def test_daily_dose_is_parsed_from_plain_dose_text(text, mg):
    assert fx.parse_daily_dose_mg(text) == Decimal(mg)


@pytest.mark.parametrize(
    "text", ["1 mg as needed", "0.5 mg PRN", "2 mg", "1 mg morning and 2 mg night", "", "weekly 5 mg"]
)
def test_ambiguous_dose_text_is_not_guessed(text):
    assert fx.parse_daily_dose_mg(text) is None
