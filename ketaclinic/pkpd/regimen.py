"""Dosing regimens: dose events and the small text form used by the CLI and the clinic pages.

Grammar (statements separated by ``;``; words are case-insensitive)::

    statement := ROUTE [DRUG] dose [at TIME]
    ROUTE     := iv | bolus | im | nasal | oral | sublingual | insufflated   (and aliases)
    DRUG      := ketamine | racemic | esketamine | s-ketamine
    dose      := AMOUNT DOSE_UNIT                        (bolus or extravascular dose)
               | AMOUNT DOSE_UNIT over TIME              (iv only: zero-order infusion)
               | RATE RATE_UNIT for TIME {, then RATE RATE_UNIT for TIME}   (iv only)
    TIME      := NUMBER TIME_UNIT

Units: doses ``mg``, ``mg/kg``; rates ``mg/kg/h``, ``mg/kg/min``, ``mg/min``, ``mg/h``; times
``s``, ``sec``, ``min``, ``h`` (and long forms).  ``nasal esketamine N mg`` is given as 28 mg
devices 5 minutes apart (Spravato), so N must be a multiple of 28.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ketaclinic.pkpd.published import Drug
from ketaclinic.pkpd.units import DOSE_UNITS, RATE_UNITS, TIME_UNITS_MIN

#: Route aliases accepted by the parser, mapped to route keys.
ROUTE_WORDS = {
    "iv": "iv",
    "intravenous": "iv",
    "bolus": "bolus",
    "im": "im",
    "intramuscular": "im",
    "nasal": "nasal",
    "intranasal": "nasal",
    "in": "nasal",
    "oral": "oral",
    "po": "oral",
    "sublingual": "sublingual",
    "sl": "sublingual",
    "insufflated": "insufflated",
    "snorted": "insufflated",
}
DRUG_WORDS: dict[str, Drug] = {
    "ketamine": "racemic",
    "racemic": "racemic",
    "esketamine": "esketamine",
    "s-ketamine": "esketamine",
}
#: Esketamine nasal spray device content (mg) and spacing between devices (min), Spravato label.
ESKETAMINE_DEVICE_MG = 28.0
ESKETAMINE_DEVICE_SPACING_MIN = 5.0


class RegimenError(ValueError):
    """A regimen text that cannot be read.

    Attributes
    ----------
    message : str
        What was expected.
    position : int
        0-based character offset of the failing word in the text.
    word : str
        The failing word (``""`` at the end of the text).
    """

    def __init__(self, message: str, position: int, word: str) -> None:
        self.message = message
        self.position = position
        self.word = word
        where = f"at '{word}'" if word else "at end of text"
        super().__init__(f"{message} ({where}, position {position})")


@dataclass(frozen=True)
class DoseEvent:
    """One administration: an instantaneous dose or a zero-order (constant-rate) input.

    Attributes
    ----------
    route : str
        ``"iv"``, ``"im"``, ``"nasal"``, ``"oral"``, ``"sublingual"`` or ``"insufflated"``.
    drug : {"racemic", "esketamine"}
        Drug given.
    start_min : float
        Start time (min) from the start of the session.
    dose : float
        Total dose of the event, in mg (``per_kg`` False) or mg/kg (``per_kg`` True).
    per_kg : bool
        Whether `dose` is per kg of body weight.
    duration_min : float
        0 for a bolus or extravascular dose; > 0 for an IV infusion of `dose` over this time.
    device_index : int
        Esketamine nasal spray: 0 for the first 28 mg device of a dose, 1, 2, ... for later ones.
    """

    route: str
    drug: Drug
    start_min: float
    dose: float
    per_kg: bool = False
    duration_min: float = 0.0
    device_index: int = 0

    def amount_mg(self, weight_kg: float | None) -> float:
        """Dose of the event in mg.

        Raises
        ------
        ValueError
            If the dose is per kg and `weight_kg` is None.

        Examples
        --------
        >>> DoseEvent("iv", "racemic", 0.0, 0.5, per_kg=True, duration_min=40.0).amount_mg(70.0)
        35.0
        """
        if not self.per_kg:
            return self.dose
        if weight_kg is None:
            raise ValueError("weight_kg: a weight-based dose (mg/kg) needs the patient's weight")
        return self.dose * weight_kg

    @property
    def end_min(self) -> float:
        """Time (min) at which the input ends."""
        return self.start_min + self.duration_min


@dataclass(frozen=True)
class Regimen:
    """An ordered tuple of dose events of one drug.

    Examples
    --------
    >>> r = parse_regimen("iv 0.5 mg/kg over 40 min")
    >>> r.drug, r.end_min, r.needs_weight
    ('racemic', 40.0, True)
    """

    events: tuple[DoseEvent, ...]
    text: str = ""

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("events: a regimen needs at least one dose event")
        if len({e.drug for e in self.events}) > 1:
            raise ValueError("events: one regimen gives one drug (racemic or esketamine), not both")

    @property
    def drug(self) -> Drug:
        """The drug of the regimen."""
        return self.events[0].drug

    @property
    def end_min(self) -> float:
        """Time (min) at which the last input ends (absorption may continue afterwards)."""
        return max(e.end_min for e in self.events)

    @property
    def needs_weight(self) -> bool:
        """Whether any dose is per kg."""
        return any(e.per_kg for e in self.events)

    @property
    def routes(self) -> tuple[str, ...]:
        """Distinct routes in order of first use."""
        return tuple(dict.fromkeys(e.route for e in self.events))


_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[^\W\d_][\w/\-]*)|(?P<punct>[;,])|(?P<bad>\S))"
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:  # trailing whitespace
            continue
        start = m.start(kind)
        if kind == "bad":
            raise RegimenError("unexpected character; expected a word or a number", start, m[kind])
        toks.append(_Tok(kind, m[kind].lower() if kind == "word" else m[kind], start))
    return toks


class _Parser:
    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text = text
        self.toks = toks
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, expected: str) -> RegimenError:
        tok = self.peek()
        if tok is None:
            return RegimenError(f"expected {expected}", len(self.text), "")
        return RegimenError(f"expected {expected}", tok.pos, tok.text)

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text in words

    def at_end_of_statement(self) -> bool:
        tok = self.peek()
        return tok is None or (tok.kind == "punct" and tok.text == ";")

    def number(self, what: str) -> tuple[float, _Tok]:
        tok = self.peek()
        if tok is None or tok.kind != "num":
            raise self.fail(f"a number ({what})")
        self.take()
        value = float(tok.text)
        return value, tok

    def unit(self, table: dict[str, tuple[float, bool]], what: str) -> tuple[float, bool, _Tok]:
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text not in table:
            raise self.fail(f"{what} ({', '.join(table)})")
        self.take()
        factor, per_kg = table[tok.text]
        return factor, per_kg, tok

    def time_min(self, what: str) -> float:
        value, _ = self.number(what)
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text not in TIME_UNITS_MIN:
            raise self.fail("a time unit (s, sec, min, h)")
        self.take()
        return value * TIME_UNITS_MIN[tok.text]

    def statement(self) -> list[DoseEvent]:
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text not in ROUTE_WORDS:
            raise self.fail(
                "a route (iv, bolus, im, nasal, oral, sublingual, insufflated) at the start of a statement"
            )
        self.take()
        route = ROUTE_WORDS[tok.text]
        drug: Drug = "racemic"
        if self.at_word(*DRUG_WORDS):
            drug = DRUG_WORDS[self.take().text]
        amount, amount_tok = self.number("the dose or rate")
        if amount < 0:  # pragma: no cover - the tokenizer has no sign
            raise RegimenError("a dose cannot be negative", amount_tok.pos, amount_tok.text)
        unit_tok = self.peek()
        is_rate = unit_tok is not None and unit_tok.kind == "word" and unit_tok.text in RATE_UNITS
        if route in ("iv", "bolus") and is_rate:
            if route == "bolus":
                raise self.fail("a dose unit (mg, mg/kg) for a bolus")
            return self.infusion_steps(drug, amount)
        factor, per_kg, _ = self.unit(dict(DOSE_UNITS), "a dose unit")
        dose = amount * factor
        duration = 0.0
        if route == "iv" and self.at_word("over"):
            self.take()
            duration = self.time_min("the infusion duration")
            if duration <= 0:
                raise RegimenError(
                    "an infusion duration must be > 0", self.toks[self.i - 2].pos, self.toks[self.i - 2].text
                )
        start = self.start_time()
        if route == "bolus":
            route = "iv"
        if route == "nasal" and drug == "esketamine":
            return _esketamine_devices(dose, per_kg, start, amount_tok)
        return [DoseEvent(route, drug, start, dose, per_kg, duration)]

    def infusion_steps(self, drug: Drug, first_rate: float) -> list[DoseEvent]:
        steps: list[tuple[float, bool, float]] = []
        rate = first_rate
        while True:
            factor, per_kg, _ = self.unit(dict(RATE_UNITS), "a rate unit")
            if not self.at_word("for"):
                raise self.fail("'for' and the duration of this rate")
            self.take()
            duration = self.time_min("the duration of this rate")
            steps.append((rate * factor, per_kg, duration))
            tok = self.peek()
            if tok is not None and tok.kind == "punct" and tok.text == ",":
                self.take()
                if not self.at_word("then"):
                    raise self.fail("'then' after the comma")
                self.take()
                rate, _ = self.number("the next rate")
                continue
            break
        start = self.start_time()
        events: list[DoseEvent] = []
        t = start
        for rate_per_min, per_kg, duration in steps:
            if duration > 0 and rate_per_min > 0:
                events.append(DoseEvent("iv", drug, t, rate_per_min * duration, per_kg, duration))
            t += duration
        return events

    def start_time(self) -> float:
        if self.at_word("at"):
            self.take()
            start = self.time_min("the start time")
        else:
            start = 0.0
        if not self.at_end_of_statement():
            raise self.fail("';' or the end of the text")
        return start


def _esketamine_devices(dose: float, per_kg: bool, start: float, amount_tok: _Tok) -> list[DoseEvent]:
    n_devices = round(dose / ESKETAMINE_DEVICE_MG)
    if per_kg or n_devices < 1 or abs(n_devices * ESKETAMINE_DEVICE_MG - dose) > 1e-9:
        raise RegimenError(
            "expected an esketamine nasal dose in mg that is a multiple of the 28 mg device "
            "(28, 56, 84, ...)",
            amount_tok.pos,
            amount_tok.text,
        )
    return nasal_devices(n_devices, start)


def nasal_devices(n_devices: int, start_min: float = 0.0) -> list[DoseEvent]:
    """An esketamine nasal dose of ``n_devices`` 28 mg devices, one every 5 min (the label's spacing).

    Examples
    --------
    >>> [(e.start_min, e.dose, e.device_index) for e in nasal_devices(2)]
    [(0.0, 28.0, 0), (5.0, 28.0, 1)]
    """
    if n_devices < 1:
        raise ValueError(f"n_devices: at least one 28 mg device (got {n_devices})")
    return [
        DoseEvent(
            "nasal",
            "esketamine",
            start_min + k * ESKETAMINE_DEVICE_SPACING_MIN,
            ESKETAMINE_DEVICE_MG,
            False,
            0.0,
            k,
        )
        for k in range(n_devices)
    ]


def rate_steps(
    drug: Drug, steps_mg_per_h: list[tuple[float, float]], start_min: float = 0.0
) -> list[DoseEvent]:
    """IV infusion events for consecutive ``(rate mg/h, duration min)`` steps, as the regimen
    language's ``iv R mg/h for D min, then ...`` gives them (a step of rate or duration 0 is a gap).

    Examples
    --------
    >>> [(e.start_min, e.dose, e.duration_min) for e in rate_steps("racemic", [(30.0, 20.0), (60.0, 20.0)])]
    [(0.0, 10.0, 20.0), (20.0, 20.0, 20.0)]
    """
    per_min = RATE_UNITS["mg/h"][0]
    events: list[DoseEvent] = []
    t = start_min
    for rate_mg_per_h, duration in steps_mg_per_h:
        rate_per_min = rate_mg_per_h * per_min
        if duration > 0 and rate_per_min > 0:
            events.append(DoseEvent("iv", drug, t, rate_per_min * duration, False, duration))
        t += duration
    return events


def _statements(parser: _Parser) -> Iterator[tuple[list[DoseEvent], _Tok | None]]:
    while parser.peek() is not None:
        first = parser.peek()
        yield parser.statement(), first
        tok = parser.peek()
        if tok is not None:  # a ';' (statement() checked it)
            parser.take()
            if parser.peek() is None:
                return


def parse_regimen(text: str) -> Regimen:
    """Read a regimen from its text form.

    Parameters
    ----------
    text : str
        Statements separated by ``;`` (see the module docstring for the grammar).

    Returns
    -------
    Regimen
        The dose events in the order written.

    Raises
    ------
    RegimenError
        If the text cannot be read; ``position`` and ``word`` point at the failing word and the
        message says what was expected.

    Examples
    --------
    >>> r = parse_regimen("iv 0.5 mg/kg/h for 20 min, then 0.75 mg/kg/h for 20 min")
    >>> [(e.start_min, round(e.dose, 4), e.duration_min) for e in r.events]
    [(0.0, 0.1667, 20.0), (20.0, 0.25, 20.0)]
    >>> [e.start_min for e in parse_regimen("nasal esketamine 84 mg").events]
    [0.0, 5.0, 10.0]
    >>> parse_regimen("iv 0.5 mg/kg during 40 min")
    Traceback (most recent call last):
    ...
    ketaclinic.pkpd.regimen.RegimenError: expected ';' or the end of the text (at 'during', position 13)
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a string, got {type(text).__name__}")
    toks = _tokenize(text)
    if not toks:
        raise RegimenError("expected a regimen such as 'iv 0.5 mg/kg over 40 min'", 0, "")
    parser = _Parser(text, toks)
    events: list[DoseEvent] = []
    drug: Drug | None = None
    for statement_events, first in _statements(parser):
        if not statement_events:
            continue
        if drug is not None and statement_events[0].drug != drug and first is not None:
            raise RegimenError(f"expected one drug per regimen ({drug} already given)", first.pos, first.text)
        drug = statement_events[0].drug
        events.extend(statement_events)
    if not events:
        raise RegimenError("expected at least one dose greater than zero", 0, text.strip())
    return Regimen(tuple(events), text)
