"""The criterion vocabulary made executable: each condition compiles to one function.

An evaluator takes the request's facts and, when a trace is wanted, a list to which it appends
the facts that decided it; the same code path decides and explains.
"""

from __future__ import annotations

from collections.abc import Callable

from priorauth.engine import measures, steps
from priorauth.engine.facts import Fact, Facts, Marker
from priorauth.engine.logic import Status, k_and, k_or
from priorauth.policy.model import (
    AgeCondition,
    AttestationCondition,
    BiomarkerCondition,
    BmiCondition,
    ConcurrentTherapyCondition,
    Condition,
    ContinuationCondition,
    DiagnosisCondition,
    DiseaseStatusCondition,
    DoseLimitCondition,
    ObservationCondition,
    PrescriberSpecialtyCondition,
    PriorTherapyCondition,
    QuestionCondition,
    SettingCondition,
    SexCondition,
    StepTherapyCondition,
)
from priorauth.policy.tables import (
    NOT_MUTATIONS,
    Knowledge,
    norm,
    norm_code,
    normalize_alteration,
)

Notes = list[Fact] | None
Evaluator = Callable[[Facts, Notes], Status]


def compile_condition(cond: Condition, kb: Knowledge, own_drug: str) -> Evaluator:
    """``own_drug``: the policy's generic, which is never a *concurrent* therapy to itself."""
    if isinstance(cond, AgeCondition):
        return _age(cond) if cond.years_only else measures.age(cond)
    if isinstance(cond, ObservationCondition):
        return measures.observation(cond)
    if isinstance(cond, BmiCondition):
        return measures.bmi(cond, kb)
    if isinstance(cond, SexCondition):
        return measures.sex(cond)
    if isinstance(cond, DoseLimitCondition):
        return measures.dose_limit(cond)
    if isinstance(cond, DiagnosisCondition):
        return _diagnosis(cond, kb)
    if isinstance(cond, BiomarkerCondition):
        return _biomarker(cond, kb)
    if isinstance(cond, PriorTherapyCondition):
        return _prior_therapy(cond, kb)
    if isinstance(cond, ConcurrentTherapyCondition):
        return _concurrent(cond, kb, own_drug)
    if isinstance(cond, AttestationCondition):
        return _attestation(cond, kb)
    if isinstance(cond, SettingCondition):
        return _setting(cond)
    if isinstance(cond, DiseaseStatusCondition):
        return _disease_status(cond)
    if isinstance(cond, QuestionCondition):
        return _question
    if isinstance(cond, PrescriberSpecialtyCondition):
        return _prescriber_specialty(cond, kb)
    if isinstance(cond, StepTherapyCondition):
        return _step_therapy(cond, kb)
    if isinstance(cond, ContinuationCondition):
        return _continuation(cond)
    raise TypeError(f"no evaluator for {type(cond).__name__}")


def _age(c: AgeCondition) -> Evaluator:
    minimum = c.min_years

    def age(f: Facts, notes: Notes) -> Status:
        years = f.age_years
        if notes is not None:
            notes.append(Fact("age_years", years, "member.birth_date, date_of_service"))
        return years >= minimum

    return age


def _diagnosis(c: DiagnosisCondition, kb: Knowledge) -> Evaluator:
    disease = kb.diseases[c.disease]
    families = disease.families
    prefixes = disease.prefixes  # codes finer than a family (L40.0 plaque psoriasis)
    histologies = disease.histologies
    extents = frozenset(c.extents) if c.extents else None
    resectable = c.resectable
    either = c.extent_or_unresectable
    severities = frozenset(c.severities) if c.severities else None

    def diagnosis(f: Facts, notes: Notes) -> Status:
        dxs = f.diagnoses
        if dxs is None:
            if notes is not None:
                notes.append(Fact("diagnoses", "not given", "diagnoses"))
            return None
        found: list[Status] = []
        for d in dxs:
            if d.family not in families and not (
                prefixes and norm_code(d.code).startswith(prefixes)
            ):
                continue
            hist: Status = True
            if histologies is not None:
                hist = None if d.histology is None else d.histology in histologies
            ext: Status = True
            if extents is not None:
                ext = None if d.extent is None else d.extent in extents
            res: Status = True
            if resectable is not None:
                res = None if d.resectable is None else d.resectable == resectable
            sev: Status = True
            if severities is not None:
                sev = None if d.severity is None else d.severity in severities
            found.append(
                k_and((hist, k_or((ext, res)), sev)) if either else k_and((hist, ext, res, sev))
            )
            if notes is not None:
                src = f"diagnoses[{d.pos}]"
                if severities is not None:
                    notes.append(Fact("severity", d.severity or "not given", f"{src}.severity"))
                notes.append(Fact("code", f"{d.code} ({kb.describe(d.code)})", f"{src}.code"))
                if histologies is not None:
                    notes.append(Fact("histology", d.histology or "not given", f"{src}.histology"))
                if extents is not None:
                    notes.append(
                        Fact("extent", d.extent or "not given", d.extent_source or f"{src}.extent")
                    )
                if resectable is not None:
                    shown = "not given" if d.resectable is None else d.resectable
                    notes.append(Fact("resectable", shown, f"{src}.resectable"))
        if not found and notes is not None:
            codes = ", ".join(d.code for d in dxs) or "none"
            notes.append(Fact(f"no {disease.name} diagnosis among", codes, "diagnoses"))
        return k_or(found)

    return diagnosis


MarkerRule = Callable[[str | None, bool, str, str | None, bool | None], Status]
ApprovedTests = Callable[[str | None], dict[str, frozenset[str]]]


def biomarker_rule(c: BiomarkerCondition, kb: Knowledge) -> tuple[str, MarkerRule, ApprovedTests]:
    """The criterion's gene, its verdict on one result of that gene (canonical alteration,
    whether one was written, result, normalized test name, the request's FDA flag), and the
    companion tests that count for an alteration."""
    gene = kb.gene(c.gene)
    wanted_alts = frozenset(
        kb.alteration(gene, a) or normalize_alteration(a) for a in c.alterations
    )
    any_mutation = "MUTATION" in wanted_alts
    wanted = c.result
    need_test = c.fda_approved_test
    disease = c.disease
    # Companion tests by the alteration found; a gene-level criterion takes any of the gene's.
    tests_by_alt = {alt: t for (g, alt), t in kb.companion_tests.items() if g == gene}
    any_alt_tests: dict[str, frozenset[str]] = {}
    for t in tests_by_alt.values():
        for name, diseases in t.items():
            any_alt_tests[name] = any_alt_tests.get(name, frozenset()) | diseases

    def approved_tests(m_alt: str | None) -> dict[str, frozenset[str]]:
        if m_alt is not None and m_alt in tests_by_alt:
            return tests_by_alt[m_alt]
        return any_alt_tests

    def one(
        m_alt: str | None, given: bool, result: str, test: str | None, flag: bool | None
    ) -> Status:
        if wanted_alts and m_alt is None:
            # "KRAS negative" with no alteration named rules every KRAS alteration out; an
            # alteration the tables cannot read might be the one required.
            if not given and wanted == "positive" and result == "negative":
                return False
            return None
        # "a BRAF mutation" is met by any named mutation (V600E), not by a fusion.
        if (
            wanted_alts
            and m_alt not in wanted_alts
            and not (any_mutation and m_alt not in NOT_MUTATIONS)
        ):
            return False
        if result != wanted:
            return False
        if not need_test:
            return True
        tests = approved_tests(m_alt)
        if test is not None and test in tests:
            # A test the table knows decides, whatever the request's flag says: the table
            # knows which indications each companion diagnostic is approved for.
            return disease is None or disease in tests[test]
        return flag

    return gene, one, approved_tests


def _biomarker(c: BiomarkerCondition, kb: Knowledge) -> Evaluator:
    gene, one, approved_tests = biomarker_rule(c, kb)
    need_test = c.fda_approved_test
    wanted = c.result
    parts = kb.gene_parts.get(gene, ())  # a marker that stands for others (HR: ER, PR)

    def biomarker(f: Facts, notes: Notes) -> Status:
        markers = f.biomarkers
        if markers is None:
            if notes is not None:
                notes.append(Fact("biomarkers", "not given", "biomarkers"))
            return None
        found: list[Status] = []
        for m in markers:
            if m.gene != gene:
                continue
            st = one(m.alteration, m.alteration_given, m.result, m.test, m.fda_approved)
            found.append(st)
            if notes is not None:
                src = f"biomarkers[{m.pos}]"
                shown = m.alteration or ("not readable" if m.alteration_given else "not named")
                notes.append(Fact("result", f"{m.gene} {shown} {m.result}", src))
                if need_test:
                    listed = m.test in approved_tests(m.alteration) if m.test else False
                    how = (
                        "FDA-approved for this indication"
                        if listed and st is not False
                        else "not FDA-approved for this indication"
                        if listed
                        else f"fda_approved={m.fda_approved}"
                        if m.fda_approved is not None
                        else "not recognised, approval not stated"
                    )
                    notes.append(Fact("test", f"{m.test or 'not named'} ({how})", f"{src}.test"))
        if not found and parts:
            return _by_parts(markers, notes)
        if not found and notes is not None:
            notes.append(Fact(f"no {gene} result among", len(markers), "biomarkers"))
        return k_or(found)

    def _by_parts(markers: list[Marker], notes: Notes) -> Status:
        """A marker that stands for others (HR: ER or PR) read from their results: positive
        when one is positive, negative when every one is negative, else unknown."""
        results = {m.gene: m.result for m in markers if m.gene in parts}
        if notes is not None:
            shown = ", ".join(f"{g} {r}" for g, r in results.items()) or "none"
            notes.append(Fact(f"{gene} from {'/'.join(parts)}", shown, "biomarkers"))
        if c.alterations or need_test:
            return None  # a named alteration or a test: only the marker's own result says
        positive: Status = (
            True
            if "positive" in results.values()
            else False
            if len(results) == len(parts)
            else None
        )
        if positive is None:
            return None
        return positive if wanted == "positive" else not positive

    return biomarker


Term = tuple[bool, str]  # (is a drug, generic name or class)


def _terms(names: list[str], kb: Knowledge) -> tuple[Term, ...]:
    """Drug names resolve to their generic; anything else is a drug class."""
    out = []
    for name in names:
        generic = kb.drug_aliases.get(norm(name))
        out.append((True, generic) if generic else (False, name))
    return tuple(out)


def _covers(term: Term, classes: frozenset[str], generics: frozenset[str]) -> bool:
    is_drug, name = term
    return name in generics if is_drug else name in classes


def _prior_therapy(c: PriorTherapyCondition, kb: Knowledge) -> Evaluator:
    minimum = c.min_systemic
    maximum = c.max_systemic
    every_of = _terms(c.all_classes, kb)
    one_of = _terms(c.any_classes, kb)
    progression = c.progression
    watch = _terms(c.not_progressed_on, kb)
    limited = _terms([c.limit_drug], kb)[0] if c.limit_drug else None
    limit_months = c.limit_months or 0
    only_in = c.only_in_setting
    never = _terms(c.not_received, kb)

    def prior_therapy(f: Facts, notes: Notes) -> Status:
        summary = f.prior_summary
        if summary is None:
            if notes is not None:
                notes.append(Fact("prior_therapies", "not given", "prior_therapies"))
            return None
        systemic, classes, generics, unresolved = summary
        if notes is not None:
            for r in f.prior_drugs or ():
                value = ", ".join(r.generics) if r.generics else "not recognised"
                notes.append(Fact(r.written, value, f"prior_therapies[{r.pos}].drug"))
        count: Status = True
        if minimum and systemic < minimum:
            count = None if systemic + unresolved >= minimum else False
        every: Status = True
        if every_of:
            missing = [t[1] for t in every_of if not _covers(t, classes, generics)]
            if notes is not None and missing:
                notes.append(Fact("classes not covered", ", ".join(missing), "prior_therapies"))
            if missing:
                every = None if unresolved else False
        if maximum is not None and systemic + unresolved > maximum:
            count = k_and((count, False if systemic > maximum else None))
        some: Status = True
        if one_of and not any(_covers(t, classes, generics) for t in one_of):
            some = None if unresolved else False
            if notes is not None:
                shown = ", ".join(t[1] for t in one_of)
                notes.append(Fact("none of", shown, "prior_therapies"))
        progressed = _progressed(f, notes) if progression is not None or watch else None
        course: Status = True
        if progression is not None:
            course = None if progressed is None else progressed == progression
        spared: Status = True
        if watch:
            given = any(_covers(t, classes, generics) for t in watch)
            if given:
                spared = None if progressed is None else not progressed
            elif unresolved:
                spared = None
        within: Status = True
        if limited is not None:
            within = _within(f, limited, limit_months, notes)
        unexposed: Status = True
        if never:
            if any(_covers(t, classes, generics) for t in never):
                unexposed = False
            elif unresolved:
                unexposed = None
        verdict = k_and((count, every, some, course, spared, within, unexposed))
        if only_in is not None:
            # "For adjuvant therapy: ...": met outside that setting.
            in_setting = _adjuvant(f, notes)
            verdict = k_or((None if in_setting is None else not in_setting, verdict))
        return verdict

    return prior_therapy


def _within(f: Facts, term: Term, months: int, notes: Notes) -> Status:
    """Not given beyond ``months``: met when never given; unknown when its duration is not said."""
    therapies = f.request.prior_therapies or []
    total = 0.0
    for t in therapies:
        info = f.kb.drug_info(t.drug)
        if info is None:
            return None
        if _covers(term, info.classes, frozenset(info.generics)):
            if t.months is None:
                if notes is not None:
                    notes.append(Fact(t.drug, "duration not given", "prior_therapies[].months"))
                return None
            total += t.months
    if notes is not None:
        notes.append(Fact(f"months of {term[1]}", total, "prior_therapies[].months"))
    return total <= months


def _progressed(f: Facts, notes: Notes) -> Status:
    ds = f.request.disease_status
    value = None if ds is None else ds.progression
    if notes is not None:
        shown = "not given" if value is None else value
        notes.append(Fact("progression", shown, "disease_status.progression"))
    return value


def _concurrent(c: ConcurrentTherapyCondition, kb: Knowledge, own_drug: str) -> Evaluator:
    single = c.single_agent
    with_any = _terms(c.with_any, kb)
    with_all = _terms(c.with_all, kb)
    none_of = _terms(c.none_of, kb)
    own = (own_drug,)

    def concurrent_therapy(f: Facts, notes: Notes) -> Status:
        infos = f.concurrent_infos
        if infos is None:
            if notes is not None:
                notes.append(Fact("concurrent_therapies", "not given", "concurrent_therapies"))
            return None
        if notes is not None:
            others = [r for r in f.concurrent_drugs or () if r.generics != own]
            if not others:
                notes.append(Fact("concurrent anticancer therapy", "none", "concurrent_therapies"))
            for r in others:
                value = ", ".join(r.generics) if r.generics else "not recognised"
                notes.append(Fact(r.written, value, f"concurrent_therapies[{r.pos}].drug"))
        unresolved = False
        classes: frozenset[str] = frozenset()
        generics: frozenset[str] = frozenset()
        for d in infos:
            if d is None:
                unresolved = True
                continue
            if d.generics == own:
                continue  # the requested drug itself
            if single and d.systemic_anticancer and any(g != own_drug for g in d.generics):
                return False
            classes |= d.classes
            generics |= frozenset(g for g in d.generics if g != own_drug)
        if single:
            return None if unresolved else True
        if with_any:
            if any(_covers(t, classes, generics) for t in with_any):
                return True
            return None if unresolved else False
        if with_all:
            if all(_covers(t, classes, generics) for t in with_all):
                return True
            return None if unresolved else False
        if any(_covers(t, classes, generics) for t in none_of):
            return False
        return None if unresolved else True

    return concurrent_therapy


def _setting(c: SettingCondition) -> Evaluator:
    def setting(f: Facts, notes: Notes) -> Status:
        return _adjuvant(f, notes)

    return setting


def _adjuvant(f: Facts, notes: Notes) -> Status:
    """After a resection, of disease that is not metastatic."""
    summary = f.prior_summary
    resected: Status = None
    if summary is not None:
        _, classes, _, unresolved = summary
        resected = True if "surgery" in classes else (None if unresolved else False)
    dxs = f.diagnoses
    spread: Status = None
    if dxs is not None:
        extents = [d.extent for d in dxs if d.family not in f.kb.extent_codes]
        if "metastatic" in extents:
            spread = False
        elif extents and None not in extents:
            spread = True
    if notes is not None:
        notes.append(
            Fact("tumor resected", "not given" if resected is None else resected, "prior_therapies")
        )
        shown = "unknown" if spread is None else spread
        notes.append(Fact("disease not metastatic", shown, "diagnoses[].extent"))
    return k_and((resected, spread))


def _attestation(c: AttestationCondition, kb: Knowledge) -> Evaluator:
    key = c.key
    needed = kb.attestation_parts(key)

    def attestation(f: Facts, notes: Notes) -> Status:
        given = f.request.attestations
        if given is None:
            if notes is not None:
                notes.append(Fact(key, "not given", "attestations"))
            return None
        if key in given:
            value: Status = given[key]
            if notes is not None:
                notes.append(Fact(key, value, f"attestations.{key}"))
            return value
        # Attested topic by topic: liver_function_monitoring and electrolyte_monitoring
        # together cover liver_function_and_electrolyte_monitoring.
        parts: list[Status] = []
        for part in needed:
            said = [v for k, v in given.items() if part in kb.attestation_parts(k)]
            parts.append(False if False in said else (True if said else None))
            if notes is not None:
                shown = "not given" if parts[-1] is None else parts[-1]
                notes.append(Fact(f"{part} monitoring", shown, "attestations"))
        return k_and(parts)

    return attestation


def _disease_status(c: DiseaseStatusCondition) -> Evaluator:
    def disease_status(f: Facts, notes: Notes) -> Status:
        ds = f.request.disease_status
        parts: list[Status] = []
        if c.no_progression:
            p = None if ds is None or ds.progression is None else not ds.progression
            parts.append(p)
            if notes is not None:
                shown = "not given" if ds is None or ds.progression is None else ds.progression
                notes.append(Fact("progression", shown, "disease_status.progression"))
        if c.no_unacceptable_toxicity:
            t = (
                None
                if ds is None or ds.unacceptable_toxicity is None
                else not ds.unacceptable_toxicity
            )
            parts.append(t)
            if notes is not None:
                v = ds.unacceptable_toxicity if ds is not None else None
                notes.append(
                    Fact(
                        "unacceptable_toxicity",
                        "not given" if v is None else v,
                        "disease_status.unacceptable_toxicity",
                    )
                )
        if c.positive_response:
            r = None if ds is None else ds.clinical_response
            parts.append(r)
            if notes is not None:
                shown = "not given" if r is None else r
                notes.append(Fact("clinical_response", shown, "disease_status.clinical_response"))
        return k_and(parts)

    return disease_status


def _question(f: Facts, notes: Notes) -> Status:
    if notes is not None:
        notes.append(Fact("answer", "not given", "answers"))
    return None


def _prescriber_specialty(c: PrescriberSpecialtyCondition, kb: Knowledge) -> Evaluator:
    wanted = frozenset(c.specialties)
    # "Prescribed by or in consultation with": another specialty may still have consulted one.
    otherwise: Status = None if c.consultation else False

    def prescriber_specialty(f: Facts, notes: Notes) -> Status:
        p = f.request.prescriber
        written = p.specialty if p is not None else None
        if written is None:
            if notes is not None:
                notes.append(Fact("specialty", "not given", "prescriber.specialty"))
            return None
        keys = kb.specialty(written)
        if notes is not None:
            shown = ", ".join(sorted(keys)) if keys else f"{written} (not recognised)"
            notes.append(Fact("specialty", shown, "prescriber.specialty"))
        if keys is None:
            return None  # a specialty the table cannot read might be the one required
        return True if keys & wanted else otherwise

    return prescriber_specialty


def _step_therapy(c: StepTherapyCondition, kb: Knowledge) -> Evaluator:
    return steps.step_therapy(c, kb)


def _continuation(c: ContinuationCondition) -> Evaluator:
    no_samples = c.excludes_samples

    def continuation(f: Facts, notes: Notes) -> Status:
        cont = f.request.continuation
        if cont is None:
            if notes is not None:
                notes.append(Fact("continuation", "not given", "continuation"))
            return None
        if notes is not None:
            notes.append(Fact("currently receiving", cont.currently_receiving, "continuation"))
        if not cont.currently_receiving:
            return False
        if no_samples:
            if notes is not None:
                shown = "not given" if cont.via_samples is None else cont.via_samples
                notes.append(Fact("via samples", shown, "continuation.via_samples"))
            return None if cont.via_samples is None else not cont.via_samples
        return True

    return continuation
