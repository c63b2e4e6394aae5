"""Step therapy with a duration, a dose, dose-defined classes and different classes: "two
preventive medications from different classes, each for at least 8 weeks", "a high-intensity
statin for at least 8 weeks".

A trial counts when its drug is one of the criterion's drugs or classes and it ended in an
accepted outcome; a failure counts only after the trial's length and dose (an intolerance or a
contraindication ends a trial early by nature, so it counts however short). A trial whose drug is
not recognised, or whose length or dose the criterion needs and the request does not give, might
count: the criterion is met when the trials that surely count are enough, unknown when those that
might count would be, and not met otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from priorauth.engine.facts import Fact, Facts
from priorauth.engine.logic import Status
from priorauth.policy.model import StepTherapyCondition
from priorauth.policy.tables import Knowledge, norm
from priorauth.request import FastStepTrial, StepTrial

Notes = list[Fact] | None
Evaluator = Callable[[Facts, Notes], Status]
Trial = StepTrial | FastStepTrial


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


def step_therapy(c: StepTherapyCondition, kb: Knowledge) -> Evaluator:
    names: list[tuple[bool, str]] = []
    for name in c.drugs:
        generic = kb.drug_aliases.get(norm(name))
        names.append((True, generic) if generic else (False, name))
    outcomes = frozenset(c.outcomes)
    needed = c.min_count
    min_days = c.min_days
    min_dose = c.min_daily_dose_mg
    distinct = c.different_classes

    def covers(
        t: Trial, generics: tuple[str, ...], classes: frozenset[str]
    ) -> tuple[set[int], set[int]]:
        """The terms this trial surely covers, and those it might (a dose not given)."""
        sure: set[int] = set()
        maybe: set[int] = set()
        for n, (is_drug, name) in enumerate(names):
            if is_drug:
                if name in generics:
                    sure.add(n)
            elif name in classes:
                sure.add(n)
            elif name in kb.dose_classes:
                least = [kb.dose_classes[name][g] for g in generics if g in kb.dose_classes[name]]
                if least:
                    if t.daily_dose_mg is None:
                        maybe.add(n)
                    elif t.daily_dose_mg >= min(least):
                        sure.add(n)
        return sure, maybe

    def adequate(t: Trial) -> Status:
        if t.outcome != "failure":
            return True
        verdict: Status = True
        if min_days is not None:
            days = trial_days(t)
            if days is None:
                verdict = None
            elif days < min_days:
                return False
        if min_dose is not None:
            if t.daily_dose_mg is None:
                verdict = None
            elif t.daily_dose_mg < min_dose:
                return False
        return verdict

    def step_therapy(f: Facts, notes: Notes) -> Status:
        trials: Sequence[Trial] | None = f.request.step_therapy
        if trials is None:
            if notes is not None:
                notes.append(Fact("step_therapy", "not given", "step_therapy"))
            return None
        all_terms = frozenset(range(len(names)))
        # Per trial that may count: the terms it surely covers (None: it might not count at all)
        # and the terms it might cover, with the drugs it stands for.
        sure_opts: list[frozenset[int]] = []
        maybe_opts: list[frozenset[int]] = []
        sure_drugs: set[str] = set()
        maybe_drugs: set[object] = set()
        for i, t in enumerate(trials):
            info = kb.drug_info(t.drug)
            if notes is not None:
                shown = ", ".join(info.generics) if info else "not recognised"
                length = trial_days(t)
                extra = "" if length is None else f", {length} days"
                if t.daily_dose_mg is not None:
                    extra += f", {t.daily_dose_mg:g} mg/day"
                notes.append(Fact(t.drug, f"{shown}: {t.outcome}{extra}", f"step_therapy[{i}]"))
            if t.outcome not in outcomes:
                continue
            if info is None:
                maybe_opts.append(all_terms)
                maybe_drugs.add(("unrecognised", i))
                continue
            ok = adequate(t)
            if ok is False:
                continue
            sure, maybe = covers(t, info.generics, info.classes)
            if not sure and not maybe:
                continue
            if ok and sure:
                sure_opts.append(frozenset(sure))
                sure_drugs.update(info.generics)
            maybe_opts.append(frozenset(sure | maybe))
            maybe_drugs.update(info.generics)
        if distinct:
            surely, possibly = _matching(sure_opts), _matching(maybe_opts)
        else:
            surely, possibly = len(sure_drugs), len(maybe_drugs)
        if surely >= needed:
            return True
        return None if possibly >= needed else False

    return step_therapy
