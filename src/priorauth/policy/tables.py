"""The curated knowledge tables (codes, histologies, drugs and regimens, companion tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any, NamedTuple

import yaml

from priorauth.errors import PolicyError
from priorauth.policy.procedures import (
    NotSystemic,
    load_not_systemic,
    procedure_named,
    with_radiation,
)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line: where, and what (its own message spans several lines and
    quotes the text)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"not valid YAML: {problem}"


_SPACES = re.compile(r"[\s_]+")
_SPLIT = re.compile(r"\s*(?:\+|,|;|\band\b|\bwith\b|\bplus\b)\s*")


# The caches below hold a fixed number of entries, each keyed by text of at most KEY_LIMIT
# characters: a fixed size, whatever a stream of distinct names brings. Longer text (the request
# contract refuses it; a document or a policy file may still carry it) is worked out every time.
KEY_LIMIT = 256
CACHE_ENTRIES = 16384


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text.replace("®", "").replace("™", "")).strip().lower()


_norm_cached = lru_cache(maxsize=CACHE_ENTRIES)(_norm)


def norm(text: str) -> str:
    """Case, spacing and trademark signs do not change what a name means."""
    return _norm_cached(text) if len(text) <= KEY_LIMIT else _norm(text)


def norm_key(text: str) -> str:
    return norm(text).replace(" ", "_").replace("-", "_")


def norm_code(code: str) -> str:
    """ICD-10-CM codes with or without the dot: ``C34.90`` and ``c3490`` are the same code."""
    return code.replace(".", "").strip().upper()


@dataclass(frozen=True)
class Disease:
    key: str
    name: str
    families: frozenset[str]
    histologies: frozenset[str] | None
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()  # codes finer than a three-character family


class DrugInfo(NamedTuple):
    """What one written drug, brand or regimen amounts to."""

    generics: tuple[str, ...]
    systemic_anticancer: bool
    classes: frozenset[str]


@dataclass(frozen=True)
class Drug:
    generic: str
    classes: frozenset[str]
    systemic_anticancer: bool


@dataclass
class Knowledge:
    families: dict[str, str]
    extent_codes: dict[str, str]
    histology_aliases: dict[str, str]
    diseases: dict[str, Disease]
    drugs: dict[str, Drug]
    drug_aliases: dict[str, str]
    regimens: dict[str, tuple[str, ...]]
    gene_aliases: dict[str, str]
    # (gene, alteration) -> normalized test name or alias -> diseases it is approved for
    companion_tests: dict[tuple[str, str], dict[str, frozenset[str]]] = field(default_factory=dict)
    # (gene, spelling as normalize_alteration leaves it) -> canonical alteration
    alteration_aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    # how documents name drug classes: normalized name -> class key
    class_aliases: dict[str, str] = field(default_factory=dict)
    # generic -> the strengths it is made in (mg)
    strengths: dict[str, list[float]] = field(default_factory=dict)
    # attestation topic -> the words that name it
    attestation_topics: dict[str, list[str]] = field(default_factory=dict)
    # procedures read from their words, chemoradiation (policy/procedures.py)
    not_systemic: NotSystemic | None = None
    # a marker that stands for others (HR: ER, PR) -> its parts
    gene_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # a gene's full name as documents spell it before the symbol -> gene
    gene_full_names: dict[str, str] = field(default_factory=dict)
    # how prescribers' specialties are written -> the specialty keys it counts as
    specialty_aliases: dict[str, frozenset[str]] = field(default_factory=dict)
    # a class defined by the daily dose (high-intensity statin) -> generic -> least mg a day
    dose_classes: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The same few names recur across requests: each one, normalized, is worked out once.
        # Keyed by the normalized name, so that spellings differing in case or spacing share
        # an entry.
        self._drugs_of = lru_cache(maxsize=CACHE_ENTRIES)(self._resolve_key)
        self._info_of = lru_cache(maxsize=CACHE_ENTRIES)(self._info_key)

    def cache_sizes(self) -> dict[str, tuple[int, int]]:
        """(entries, the most it holds) of each cache of names, these tables' and the module's."""
        caches = {
            "resolve_drugs": self._drugs_of,
            "drug_info": self._info_of,
            "norm": _norm_cached,
            "normalize_alteration": _normalize_alteration_cached,
            "describe": _description,
        }
        out = {}
        for name, cached in caches.items():
            info = cached.cache_info()
            out[name] = (info.currsize, info.maxsize or 0)
        return out

    def drug_info(self, name: str) -> DrugInfo | None:
        """None when the name (or a part of it) is not recognised."""
        key = norm(name)
        return self._info_of(key) if len(key) <= KEY_LIMIT else self._info_key(key)

    def _info_key(self, key: str) -> DrugInfo | None:
        generics = self.resolve_drugs(key)
        if generics is None:
            return None
        drugs = [self.drugs[g] for g in generics]
        return DrugInfo(
            generics,
            any(d.systemic_anticancer for d in drugs),
            frozenset().union(*(d.classes for d in drugs)),
        )

    def histology(self, text: str) -> str:
        key = norm_key(text)
        return self.histology_aliases.get(key, key)

    def specialty(self, text: str) -> frozenset[str] | None:
        """The specialty keys a written specialty or specialist counts as, or None."""
        key = norm(text).strip(".")
        return self.specialty_aliases.get(key) or self.specialty_aliases.get(
            re.sub(r"^(?:an?|the)\s+", "", key)
        )

    def describe(self, code: str) -> str:
        """The ICD-10-CM description of a code (the whole code set, from simple-icd-10-cm),
        or the family's name when the package does not know the code."""
        return _describe(norm_code(code)) or self.families.get(norm_code(code)[:3], code)

    def gene(self, text: str) -> str:
        return self.gene_aliases.get(norm(text), text.strip().upper())

    def resolve_drugs(self, name: str) -> tuple[str, ...] | None:
        """Generic drug names for what a prescriber wrote (a drug, brand, regimen or combination).

        None when any part of it is not recognised, so that the caller can treat it as unknown.
        """
        key = norm(name)
        return self._drugs_of(key) if len(key) <= KEY_LIMIT else self._resolve_key(key)

    def alteration(self, gene: str, text: str) -> str | None:
        """The canonical alteration, or None when the text is not one the tables can read."""
        words = text.split(None, 1)
        if len(words) == 2 and self.gene_aliases.get(norm(words[0])) == gene:
            text = words[1]  # "EGFR exon 19 deletion"
        canonical = normalize_alteration(text)
        if is_protein_change(canonical):
            return canonical
        found = self.alteration_aliases.get((gene, canonical))
        if found is None:
            # A kind of alteration rather than a named one: "fusion", "KIF5B-RET fusion",
            # "amplification", "mutation".
            found = ALTERATION_KINDS.get(canonical)
            if found is None and canonical.endswith(("FUSION", "REARRANGEMENT")):
                found = "FUSION"
        return found

    def attestation_parts(self, key: str) -> tuple[str, ...]:
        """The monitoring topics an attestation key stands for (liver_function_and_electrolyte_
        monitoring: liver_function, electrolyte); the key itself when it names no known topic."""
        if key.endswith("_monitoring"):
            parts = tuple(key.removesuffix("_monitoring").split("_and_"))
            if all(p in self.attestation_topics for p in parts):
                return parts
        return (key,)

    def _resolve_key(self, key: str) -> tuple[str, ...] | None:
        """resolve_drugs for a normalized name."""
        if key in self.regimens:
            return self.regimens[key]
        if key in self.drug_aliases:
            return (self.drug_aliases[key],)
        parts = [p for p in _SPLIT.split(key) if p]
        named = with_radiation(self, parts) if len(parts) > 1 else None
        if named is not None:
            # "chemoradiation with cisplatin": the drugs named, and the radiation part.
            got = self.resolve_drugs(" + ".join(named)) if named else None
            if got is None or not any(self.drugs[g].systemic_anticancer for g in got):
                return None
            return (*got, self.not_systemic.radiation)  # type: ignore[union-attr]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                got = self.resolve_drugs(part)
                if got is None:
                    return None
                out.extend(got)
            return tuple(out)
        return procedure_named(self, key)

    def is_class(self, name: str) -> bool:
        return name in self.dose_classes or any(name in d.classes for d in self.drugs.values())


# libyaml's parser when PyYAML was built with it (the wheels are): several times faster than the
# pure-Python one, and policy loading is most of an Engine's start-up.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_load(text: str) -> Any:
    """``yaml.safe_load``, by libyaml when available."""
    return yaml.load(text, Loader=_LOADER)


# No ICD-10-CM code is longer (without its dot).
_LONGEST_CODE = 7


def _describe(code: str) -> str | None:
    return _description(code) if len(code) <= _LONGEST_CODE else None


@lru_cache(maxsize=4096)
def _description(code: str) -> str | None:
    import warnings

    try:
        # Imported on first use: loading the whole code set takes about a second and a half,
        # which only an explanation or the importer should pay. Its data loading uses
        # importlib APIs that warn on newer Pythons.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm as icd  # type: ignore[import-untyped]

            return icd.get_description(code) if icd.is_valid_item(code) else None
    except ImportError:  # pragma: no cover - a declared dependency
        return None


_BMI_RANGE = re.compile(
    r"Body mass index \[BMI\] (?:(\d+(?:\.\d)?)-(\d+(?:\.\d)?)|(\d+(?:\.\d)?) or less"
    r"|(\d+(?:\.\d)?) or greater), adult"
)


def bmi_range(code: str) -> tuple[float, float] | None:
    """The adult BMI range a Z68 code states (Z68.30: 30.0 to 30.9; Z68.45: 70 or greater),
    read from the code's ICD-10-CM description; None for other codes (pediatric percentiles
    included)."""
    c = norm_code(code)
    if not c.startswith("Z68"):
        return None
    m = _BMI_RANGE.fullmatch(_describe(c) or "")
    if m is None:
        return None
    low, high, at_most, at_least = m.groups()
    if at_most is not None:
        return (0.0, float(at_most) + 0.09)
    if at_least is not None:
        return (float(at_least), float("inf"))
    # "30.0-30.9": every BMI written to one decimal in it, so below 31.0.
    return (float(low), float(high) + 0.09)


def is_icd10cm_code(code: str) -> bool:
    """Whether ``code`` (with or without the dot) is in the ICD-10-CM code set."""
    return _describe(norm_code(code)) is not None


# Further tables merged into the main ones (one file per field, to keep each one reviewable).
DRUG_FILES = ("drugs.yaml", "targeted_oncology.yaml", "immunology.yaml", "areas.yaml")
DIAGNOSIS_FILES = ("diagnoses.yaml", "disease_catalog.yaml", "areas_diagnoses.yaml")
TEST_FILES = ("tests.yaml", "biomarkers.yaml")


def _merged(names: tuple[str, ...]) -> dict[str, Any]:
    """The tables of several files as one; a key defined twice is an error."""
    out: dict[str, Any] = {}
    for name in names:
        for section, value in _read(name).items():
            if isinstance(value, list):
                out.setdefault(section, []).extend(value)
                continue
            have = out.setdefault(section, {})
            for key, entry in (value or {}).items():
                if key in have and isinstance(entry, dict) and isinstance(have[key], dict):
                    for inner, v in entry.items():  # alteration spellings of one gene
                        if inner in have[key]:
                            where = f"{section}.{key}.{inner}"
                            raise PolicyError(f"knowledge/{name}", where, "defined twice")
                        have[key][inner] = v
                    continue
                if key in have:
                    raise PolicyError(f"knowledge/{name}", f"{section}.{key}", "defined twice")
                have[key] = entry
    return out


def _read(name: str) -> dict[str, Any]:
    path = resources.files("priorauth.policy") / "knowledge" / name
    try:
        data = yaml_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"knowledge/{name}", "", yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise PolicyError(f"knowledge/{name}", "", "expected a mapping at the top")
    return data


def _expand_family(spec: str) -> list[str]:
    """``C34`` is one family; ``C81-C96`` every family from C81 to C96."""
    if "-" not in spec:
        return [norm_code(spec)]
    first, last = (norm_code(s) for s in spec.split("-", 1))
    letter = first[0]
    return [f"{letter}{n:02d}" for n in range(int(first[1:3]), int(last[1:3]) + 1)]


def _not_systemic_drug(generic: str, classes: frozenset[str]) -> Drug:
    return Drug(generic=generic, classes=classes, systemic_anticancer=False)


@cache
def load_knowledge() -> Knowledge:
    dx = _merged(DIAGNOSIS_FILES)
    rx = _merged(DRUG_FILES)
    tx = _merged(TEST_FILES)

    histology_aliases: dict[str, str] = {}
    for key, aliases in dx["histologies"].items():
        for alias in [key, *aliases]:
            histology_aliases[norm_key(alias)] = key

    diseases = {}
    for key, d in dx["diseases"].items():
        codes = [code for f in d["families"] for code in _expand_family(f)]
        families = frozenset(c for c in codes if len(c) == 3)
        hist = d.get("histologies")
        for h in hist or []:
            if h not in dx["histologies"]:
                raise PolicyError(
                    "knowledge/diagnoses.yaml", f"diseases.{key}", f"unknown histology {h!r}"
                )
        diseases[key] = Disease(
            key=key,
            name=d["name"],
            families=families,
            histologies=frozenset(hist) if hist else None,
            names=tuple(d.get("names", [])),
            prefixes=tuple(c for c in codes if len(c) > 3),
        )

    drugs: dict[str, Drug] = {}
    drug_aliases: dict[str, str] = {}
    for generic, d in rx["drugs"].items():
        drugs[generic] = Drug(
            generic=generic,
            classes=frozenset(d.get("classes", [])),
            systemic_anticancer=d.get("systemic_anticancer", True),
        )
        for alias in [generic, *d.get("names", [])]:
            drug_aliases[norm(alias)] = generic
    for generic, extra in (rx.get("more_classes") or {}).items():
        if generic not in drugs:
            raise PolicyError("knowledge", f"more_classes.{generic}", "unknown drug")
        d = drugs[generic]
        drugs[generic] = Drug(generic, d.classes | frozenset(extra), d.systemic_anticancer)
    not_systemic = load_not_systemic(drugs, drug_aliases, _read, norm, _not_systemic_drug)
    regimens: dict[str, tuple[str, ...]] = {}
    for name, members in rx["regimens"].items():
        for m in members:
            if m not in drugs:
                raise PolicyError("knowledge/drugs.yaml", f"regimens.{name}", f"unknown drug {m!r}")
        regimens[norm(name)] = tuple(members)

    gene_aliases: dict[str, str] = {}
    for gene, aliases in tx["genes"].items():
        for alias in [gene, *aliases]:
            gene_aliases[norm(alias)] = gene
    gene_full_names: dict[str, str] = {}
    for gene, names in (tx.get("gene_full_names") or {}).items():
        if gene not in tx["genes"]:
            raise PolicyError("knowledge", f"gene_full_names.{gene}", "unknown gene")
        for name in names:
            gene_full_names[norm(name)] = gene
    companion: dict[tuple[str, str], dict[str, frozenset[str]]] = {}
    for i, cd in enumerate(tx["companion_diagnostics"]):
        tests = companion.setdefault((cd["gene"], normalize_alteration(cd["alteration"])), {})
        for test in cd["tests"]:
            for dis in test["diseases"]:
                if dis not in diseases:
                    where = f"companion_diagnostics[{i}]"
                    raise PolicyError("knowledge/tests.yaml", where, f"unknown disease {dis!r}")
            for alias in [test["name"], *test.get("aliases", [])]:
                tests[norm(alias)] = frozenset(test["diseases"])

    alteration_aliases: dict[tuple[str, str], str] = {}
    for gene, spellings in (tx.get("alteration_aliases") or {}).items():
        for spelling, canonical in spellings.items():
            alteration_aliases[(gene, normalize_alteration(spelling))] = canonical

    class_aliases: dict[str, str] = {}
    for cls, names in (rx.get("class_names") or {}).items():
        for name in [cls, *names]:
            class_aliases[norm(name)] = cls
    strengths = {g: list(d["strengths_mg"]) for g, d in rx["drugs"].items() if "strengths_mg" in d}
    ax = _read("attestations.yaml")
    specialty_aliases: dict[str, frozenset[str]] = {}
    for key, sp in _read("specialties.yaml")["specialties"].items():
        counts = frozenset([key, *sp.get("counts_as", [])])
        for name in [key, *sp.get("names", [])]:
            specialty_aliases[norm(name)] = counts

    dose_classes: dict[str, dict[str, float]] = {}
    for cls, doses in (rx.get("dose_classes") or {}).items():
        for generic in doses:
            if generic not in drugs:
                raise PolicyError("knowledge", f"dose_classes.{cls}.{generic}", "unknown drug")
        dose_classes[cls] = {g: float(mg) for g, mg in doses.items()}

    return Knowledge(
        dose_classes=dose_classes,
        alteration_aliases=alteration_aliases,
        class_aliases=class_aliases,
        strengths=strengths,
        attestation_topics={k: list(v) for k, v in ax["topics"].items()},
        not_systemic=not_systemic,
        specialty_aliases=specialty_aliases,
        gene_full_names=gene_full_names,
        gene_parts={g: tuple(p) for g, p in (tx.get("gene_parts") or {}).items()},
        families={norm_code(k): v["name"] for k, v in dx["families"].items()},
        extent_codes={norm_code(k): v for k, v in dx["extent_codes"].items()},
        histology_aliases=histology_aliases,
        diseases=diseases,
        drugs=drugs,
        drug_aliases=drug_aliases,
        regimens=regimens,
        gene_aliases=gene_aliases,
        companion_tests=companion,
    )


# Kinds of alteration as results and policies write them, for criteria that name no alteration.
ALTERATION_KINDS = {
    "MUTATION": "MUTATION",
    "MUTATIONS": "MUTATION",
    "MUTATED": "MUTATION",
    "MUTANT": "MUTATION",
    "MUTATION-POSITIVE": "MUTATION",
    "FUSION": "FUSION",
    "FUSIONS": "FUSION",
    "GENEFUSION": "FUSION",
    "REARRANGEMENT": "FUSION",
    "REARRANGED": "FUSION",
    "TRANSLOCATION": "FUSION",
    "AMPLIFICATION": "AMPLIFICATION",
    "AMPLIFIED": "AMPLIFICATION",
    "OVEREXPRESSION": "OVEREXPRESSION",
    "OVEREXPRESSED": "OVEREXPRESSION",
}
# Alterations that are not mutations: a criterion asking for "a mutation" is not met by them.
NOT_MUTATIONS = frozenset({"FUSION", "AMPLIFICATION", "OVEREXPRESSION"})

_AMINO = {
    "ala": "A",
    "arg": "R",
    "asn": "N",
    "asp": "D",
    "cys": "C",
    "gln": "Q",
    "glu": "E",
    "gly": "G",
    "his": "H",
    "ile": "I",
    "leu": "L",
    "lys": "K",
    "met": "M",
    "phe": "F",
    "pro": "P",
    "ser": "S",
    "thr": "T",
    "trp": "W",
    "tyr": "Y",
    "val": "V",
    "ter": "*",
}
_THREE = re.compile(r"(" + "|".join(_AMINO) + r")", re.IGNORECASE)
_THREE_LETTER_CHANGE = re.compile(r"[A-Za-z]{3}\d+(?:[A-Za-z]{3}|\*)")
_PROTEIN_CHANGE = re.compile(r"[A-Z]\d+(?:[A-Z*]|DEL|INS[A-Z]*|DUP|FS\*?\d*)")


def _protein_token(token: str) -> str | None:
    t = token.strip().strip(",;")
    if t[:2].lower() == "p.":
        t = t[2:]
    t = t.strip("()[]")
    if _THREE_LETTER_CHANGE.fullmatch(t):
        t = _THREE.sub(lambda m: _AMINO[m.group(1).lower()], t)
    t = t.upper()
    return t if _PROTEIN_CHANGE.fullmatch(t) else None


def normalize_alteration(text: str) -> str:
    """One spelling of a protein change: ``p.G12C``, ``g12c``, ``p.Gly12Cys``, ``KRAS G12C`` and
    ``G12C (c.34G>T)`` are ``G12C``. Text with no protein change in it comes back upper-cased
    with spaces removed, for the alias tables."""
    if len(text) > KEY_LIMIT:
        return _normalize_alteration(text)
    return _normalize_alteration_cached(text)


def _normalize_alteration(text: str) -> str:
    whole = _protein_token(text.replace(" ", "")) if len(text) < 16 else None
    if whole:
        return whole
    for token in text.split():
        found = _protein_token(token)
        if found:
            return found
    return text.upper().replace(" ", "")


def is_protein_change(canonical: str) -> bool:
    return _PROTEIN_CHANGE.fullmatch(canonical) is not None


def three_letter_change(canonical: str) -> str | None:
    """A substitution as HGVS writes it with three-letter amino acids, upper-cased (G12C:
    GLY12CYS), or None when it is not a single substitution."""
    m = re.fullmatch(r"([A-Z])(\d+)([A-Z])", canonical)
    if m is None:
        return None
    three = {one: name for name, one in _AMINO.items()}
    if m.group(1) not in three or m.group(3) not in three:
        return None
    return f"{three[m.group(1)]}{m.group(2)}{three[m.group(3)]}".upper()


_normalize_alteration_cached = lru_cache(maxsize=4096)(_normalize_alteration)
