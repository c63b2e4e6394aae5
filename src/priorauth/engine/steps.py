"""Step therapy with a duration, a dose, dose-defined classes and different classes: "two
preventive medications from different classes, each for at least 8 weeks", "a high-intensity
statin for at least 8 weeks".

A trial counts when its drug is one of the criterion's drugs or classes and it ended in an
accepted outcome; a failure counts only after the trial's length and dose (an intolerance or a
contraindication ends a trial early by nature, so it counts however short). A trial whose drug is
not recognised, or whose length or dose the criterion needs and the request does not give, might
count: the criterion is met when the trials that surely count are enough, unknown when those that
might count would be, and not met otherwise.

The plain shape (drugs or classes alone, the shape before issue 21) keeps its own rule: a trial
of a drug not recognised might count whatever its outcome.

Both the explaining evaluator and the compiled path's leaf are made from one :class:`StepRule`:
the leaf reads the request's trials directly, with what each drug as written amounts to
remembered per spelling. Trials carry lengths, doses and dates, so lists seldom recur whole and
are not remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from priorauth.engine.facts import Fact, Facts
from priorauth.engine.logic import Status
from priorauth.policy.model import StepTherapyCondition
from priorauth.policy.tables import Knowledge, norm
from priorauth.request import FastStepTrial, StepTrial

Notes = list[Fact] | None
Evaluator = Callable[[Facts, Notes], Status]
FastLeaf = Callable[[Any], Status]
Trial = StepTrial | FastStepTrial

# Drug spellings remembered per rule, at most (a workload writes a few hundred).
_SPELLINGS = 65536


def trial_days(t: Trial) -> int | None:
    """How long it was tried: ``days`` as given, else from ``start`` to ``end``, both days
    counted."""
    if t.days is not None:
        return t.days
    if t.start is not None and t.end is not None:
        return (t.end - t.start).days + 1
    return None


def _matching(options: list[frozenset[int]]) -> int:
    """The most trials that can each be given a different term (Kuhn's augmenting paths; a few
    trials and terms)."""
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for term in options[i]:
            if term in seen:
                continue
            seen.add(term)
            if term not in owner or place(owner[term], seen):
                owner[term] = i
                return True
        return False

    return sum(place(i, set()) for i in range(len(options)))


class _Drug:
    """What one drug as written amounts to for one criterion: its generics, the terms it
    covers whatever the dose, and the dose-defined terms with the least daily dose that
    reaches each."""

    __slots__ = ("by_dose", "generics", "least", "static")

    def __init__(
        self,
        generics: tuple[str, ...],
        static: frozenset[int],
        by_dose: tuple[tuple[int, float], ...],
    ) -> None:
        self.generics = generics
        self.static = static
        self.by_dose = by_dose
        # the least daily dose that reaches some dose-defined term (None: none is)
        self.least = min((d for _, d in by_dose), default=None)

    def covers(self, dose: float | None) -> tuple[frozenset[int], frozenset[int]]:
        """The terms a trial at this daily dose surely covers, and those it might (no dose
        given)."""
        if not self.by_dose:
            return self.static, frozenset()
        if dose is None:
            return self.static, frozenset(n for n, _ in self.by_dose)
        return self.static | {n for n, least in self.by_dose if dose >= least}, frozenset()


# A drug the tables do not recognise (a distinct object, so that a lookup's ``or`` works).
_UNRECOGNISED = _Drug((), frozenset(), ())


class StepRule:
    """One step-therapy criterion: its terms (drugs resolved to their generic, anything else a
    class), its outcomes, count, length and dose, and what each drug as written amounts to."""

    def __init__(self, c: StepTherapyCondition, kb: Knowledge) -> None:
        self.kb = kb
        self.names: list[tuple[bool, str]] = []
        for name in c.drugs:
            generic = kb.drug_aliases.get(norm(name))
            self.names.append((True, generic) if generic else (False, name))
        self.outcomes = frozenset(c.outcomes)
        self.needed = c.min_count
        self.min_days = c.min_days
        self.min_dose = c.min_daily_dose_mg
        self.distinct = c.different_classes
        self.plain = c.plain and not any(d in kb.dose_classes for d in c.drugs)
        self.all_terms = frozenset(range(len(self.names)))
        self.drugs: dict[str, _Drug] = {}

    def drug(self, written: str) -> _Drug:
        """What a drug as written amounts to, remembered per spelling."""
        got = self.drugs.get(written)
        if got is None:
            got = self._read(written)
            if len(self.drugs) >= _SPELLINGS:
                self.drugs.clear()
            self.drugs[written] = got
        return got

    def _read(self, written: str) -> _Drug:
        info = self.kb.drug_info(written)
        if info is None:
            return _UNRECOGNISED
        dose_classes = self.kb.dose_classes
        static: set[int] = set()
        by_dose: list[tuple[int, float]] = []
        for n, (is_drug, name) in enumerate(self.names):
            if is_drug:
                if name in info.generics:
                    static.add(n)
            elif name in info.classes:
                static.add(n)
            elif not self.plain and name in dose_classes:
                least = [dose_classes[name][g] for g in info.generics if g in dose_classes[name]]
                if least:
                    by_dose.append((n, min(least)))
        return _Drug(info.generics, frozenset(static), tuple(by_dose))

    def adequate(self, t: Trial) -> Status:
        """Whether a trial lasted long enough at a high enough dose (a failure only)."""
        if t.outcome != "failure":
            return True
        verdict: Status = True
        min_days = self.min_days
        if min_days is not None:
            days = trial_days(t)
            if days is None:
                verdict = None
            elif days < min_days:
                return False
        min_dose = self.min_dose
        if min_dose is not None:
            dose = t.daily_dose_mg
            if dose is None:
                verdict = None
            elif dose < min_dose:
                return False
        return verdict

    def status(self, trials: Sequence[Trial], notes: Notes = None) -> Status:
        """The criterion's status on the request's trials, noting each trial when asked."""
        if self.plain:
            return self._plain(trials, notes)
        outcomes = self.outcomes
        # Per trial that may count: the terms it surely covers (None: it might not count at all)
        # and the terms it might cover, with the drugs it stands for.
        sure_opts: list[frozenset[int]] = []
        maybe_opts: list[frozenset[int]] = []
        sure_drugs: set[str] = set()
        maybe_drugs: set[object] = set()
        for i, t in enumerate(trials):
            drug = self.drug(t.drug)
            if notes is not None:
                _note(notes, i, t, drug, with_length=True)
            if t.outcome not in outcomes:
                continue
            if drug is _UNRECOGNISED:
                maybe_opts.append(self.all_terms)
                maybe_drugs.add(("unrecognised", i))
                continue
            ok = self.adequate(t)
            if ok is False:
                continue
            sure, maybe = drug.covers(t.daily_dose_mg)
            if not sure and not maybe:
                continue
            if ok and sure:
                sure_opts.append(sure)
                sure_drugs.update(drug.generics)
            maybe_opts.append(sure | maybe)
            maybe_drugs.update(drug.generics)
        if self.distinct:
            surely, possibly = _matching(sure_opts), _matching(maybe_opts)
        else:
            surely, possibly = len(sure_drugs), len(maybe_drugs)
        if surely >= self.needed:
            return True
        return None if possibly >= self.needed else False

    def _plain(self, trials: Sequence[Trial], notes: Notes) -> Status:
        counted: set[str] = set()
        unresolved = 0
        outcomes = self.outcomes
        for i, t in enumerate(trials):
            drug = self.drug(t.drug)
            if notes is not None:
                _note(notes, i, t, drug, with_length=False)
            if drug is _UNRECOGNISED:
                unresolved += 1
                continue
            if t.outcome not in outcomes:
                continue
            if drug.static:
                counted.update(drug.generics)
        if len(counted) >= self.needed:
            return True
        return None if len(counted) + unresolved >= self.needed else False

    def leaf(self) -> FastLeaf:
        """The compiled path's leaf: the status from the request's trials. One trial is enough
        for the commonest criterion (one trial of any of its drugs, no different classes), so
        the first that surely counts settles it; any other shape is decided by ``status``."""
        status = self.status
        if self.needed != 1 or self.distinct:

            def step_therapy(r: Any) -> Status:
                trials = r.step_therapy
                return None if trials is None else status(trials)

            return step_therapy
        outcomes = self.outcomes
        drugs = self.drugs
        read = self.drug
        plain = self.plain
        min_days = self.min_days
        min_dose = self.min_dose

        # What the leaf reads, bound as default arguments (see engine/codegen.py).
        def one_trial(
            r: Any,
            drugs: dict[str, _Drug] = drugs,
            read: Callable[[str], _Drug] = read,
            outcomes: frozenset[str] = outcomes,
            plain: bool = plain,
            min_days: int | None = min_days,
            min_dose: float | None = min_dose,
        ) -> Status:
            trials = r.step_therapy
            if trials is None:
                return None
            maybe = False
            for t in trials:
                drug = drugs.get(t.drug) or read(t.drug)
                outcome = t.outcome
                if drug is _UNRECOGNISED:
                    if plain or outcome in outcomes:
                        maybe = True
                    continue
                if outcome not in outcomes or not drug.generics:
                    continue
                if plain:
                    if drug.static:
                        return True
                    continue
                # adequate(), inline: a failure only after the length and dose asked for
                ok: Status = True
                if outcome == "failure":
                    if min_days is not None:
                        days = t.days
                        if days is None and t.start is not None and t.end is not None:
                            days = (t.end - t.start).days + 1
                        if days is None:
                            ok = None
                        elif days < min_days:
                            continue
                    if min_dose is not None:
                        given = t.daily_dose_mg
                        if given is None:
                            ok = None
                        elif given < min_dose:
                            continue
                # whether the trial surely covers a term (drug.covers(dose)'s first part), inline
                dose = t.daily_dose_mg
                least = drug.least
                if drug.static or (dose is not None and least is not None and dose >= least):
                    if ok:
                        return True
                    maybe = True
                elif dose is None and least is not None:
                    maybe = True
            return None if maybe else False

        return one_trial


def _note(notes: list[Fact], i: int, t: Trial, drug: _Drug, *, with_length: bool) -> None:
    shown = ", ".join(drug.generics) if drug is not _UNRECOGNISED else "not recognised"
    extra = ""
    if with_length:
        length = trial_days(t)
        extra = "" if length is None else f", {length} days"
        if t.daily_dose_mg is not None:
            extra += f", {t.daily_dose_mg:g} mg/day"
    notes.append(Fact(t.drug, f"{shown}: {t.outcome}{extra}", f"step_therapy[{i}]"))


def step_therapy(c: StepTherapyCondition, kb: Knowledge) -> Evaluator:
    """The explaining evaluator."""
    rule = StepRule(c, kb)

    def step_therapy(f: Facts, notes: Notes) -> Status:
        trials: Sequence[Trial] | None = f.request.step_therapy
        if trials is None:
            if notes is not None:
                notes.append(Fact("step_therapy", "not given", "step_therapy"))
            return None
        return rule.status(trials, notes)

    return step_therapy


def step_therapy_leaf(c: StepTherapyCondition, kb: Knowledge) -> FastLeaf:
    """The compiled path's leaf."""
    return StepRule(c, kb).leaf()
