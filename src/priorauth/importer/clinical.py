"""Readers of the wording of measurements and of the member: a lab result, score or count against
a threshold ("Blood eosinophil count >= 150 cells/uL within the last 6 weeks"), a change from
baseline ("lost at least 5% of baseline body weight"), BMI with its comorbidity alternative, sex,
and ages in months or ranges.

Each reader returns the condition's fields and a short description, or None. As in mapping.py,
a reader accepts a sentence only when every word of it is explained; a name must resolve through
the knowledge tables (``find`` gives an observation's key from a name as documents write it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import yaml

Find = Callable[[str], str | None]
Read = tuple[dict[str, Any], str]

_NUM = r"(?P<num>\d+(?:\.\d+)?)"
# The unit as documents write it, right after the number ("150 cells/uL", "10%", "30 kg/m2").
_UNIT = (
    r"(?P<unit>%|kg/m2|kg/m\^2|kg/m²|mg/dl|mmol/l|cells/ul|cells/μl|cells/mcl|cells/mm3|"
    r"ng/dl|nmol/l|ng/ml|iu/ml|iu/l|mg|kg|lb|cm|ml/min/1\.73 ?m2)?"
)
_AT_LEAST = (
    r"(?:>=|=>|of at least|at least|greater than or equal to|of greater than or equal to"
    r"|at or above)"
)
_OR_MORE = r"(?:or (?:greater|more|higher|above))"
_ABOVE = r"(?:>|greater than|more than|above|exceeding|of more than|of greater than)"
_BELOW = r"(?:<|less than|below|under|of less than|lower than)"
_AT_MOST = r"(?:<=|=<|less than or equal to|at or below|no more than|of at most|at most)"


def _comparison(text: str) -> tuple[str, float, str] | None:
    """'>= 150 cells/uL', 'of 16 or greater', 'below 300 ng/dL': the operator, the number and
    the unit as written (lower case, '' when none); None when the text says anything else."""
    t = text.strip()
    forms = [
        (rf"{_AT_LEAST}\s*{_NUM}\s*{_UNIT}", ">="),
        (rf"(?:of\s+)?{_NUM}\s*{_UNIT}\s+{_OR_MORE}", ">="),
        (rf"{_ABOVE}\s*{_NUM}\s*{_UNIT}", ">"),
        (rf"{_AT_MOST}\s*{_NUM}\s*{_UNIT}", "<="),
        (rf"{_BELOW}\s*{_NUM}\s*{_UNIT}", "<"),
        (rf"(?:of\s+)?{_NUM}\s*{_UNIT}\s+or (?:less|lower|below)", "<="),
    ]
    for form, op in forms:
        m = re.fullmatch(form, t, re.I)
        if m:
            return op, float(m.group("num")), m.group("unit") or ""
    return None


_PERIOD_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def _days(n: str, period: str) -> int:
    return int(n) * _PERIOD_DAYS[period.lower().rstrip("s")]


_WINDOW = re.compile(
    r"\s+(?:within|in|during|over)\s+the\s+(?:last|past|previous|prior)\s+(?P<n>\d+)\s+"
    r"(?P<period>days?|weeks?|months?|years?)$",
    re.I,
)
# Words that only say what kind of thing an observation is ("EASI score", "HbA1c level").
_KIND_WORDS = (
    r"(?:\s+(?:score|count|level|levels|value|values|result|results|involvement|test|tests))*"
)


def _observation(name: str, find: Find) -> str | None:
    """The observation a name means: the name as written or without the words that only say
    its kind. A name with an abbreviation in parentheses ("Body mass index (BMI)") is read
    without it, and the abbreviation, when the tables know it, must agree: an abbreviation alone
    never stands for the words around it."""
    whole = re.sub(r"^(?:an?|the)\s+", "", name.strip(), flags=re.I)
    paren = re.fullmatch(r"(.+?)\s*\(([^()]+)\)(.*)", whole)
    outer = f"{paren.group(1)}{paren.group(3)}".strip() if paren else whole
    key = find(outer) or find(re.sub(rf"{_KIND_WORDS}$", "", outer, flags=re.I).strip())
    if key is None or paren is None:
        return key
    abbreviation = find(paren.group(2).strip())
    return key if abbreviation in (None, key) else None


_SUBJECT = r"^(?:patient has (?:an? |had an? )?|patient's\s+)"


def read_threshold(text: str, find: Find) -> Read | None:
    """'<observation> <comparison> [within the last N days]', 'Patient has 4 or more migraine
    days per month', 'Two morning total testosterone levels below 300 ng/dL on separate days',
    'Detectable HCV RNA within the last 6 months'."""
    t = re.sub(_SUBJECT, "", text.strip(), flags=re.I)
    within = None
    w = _WINDOW.search(t)
    if w:
        within = _days(w.group("n"), w.group("period"))
        t = t[: w.start()].strip()
    fields: dict[str, Any] = {}
    count = re.match(r"^(?P<n>two|three|2|3)\s+", t, re.I)
    if count:
        fields["min_count"] = {"two": 2, "three": 3}.get(count.group("n").lower()) or int(
            count.group("n")
        )
        t = t[count.end() :]
        sep = re.search(
            r"\s+(?:on|from) (?:two )?(?:separate|different) (?:days|dates|occasions)$", t
        )
        if sep:
            fields["separate_days"] = True
            t = t[: sep.start()]
    morning = re.match(r"^(?:early\s+)?morning\s+", t, re.I)
    if morning:
        fields["morning"] = True
        t = t[morning.end() :]
    got = _named_comparison(t, find)
    if got is None:
        return None
    key, op, value, unit = got
    if "min_count" in fields and not re.search(
        r"\b(?:levels|values|tests|results|measurements)\b", t
    ):
        return None  # "two ... below" needs a plural that says the values are counted
    cond: dict[str, Any] = {"observation": key, "op": op, "value": value}
    if unit:
        cond["unit"] = unit
    if within is not None:
        cond["within_days"] = within
    cond.update(fields)
    said = f"{key} {op} {value:g}{(' ' + unit) if unit else ''}"
    if within is not None:
        said += f" within {within} days"
    if "min_count" in fields:
        said = f"{fields['min_count']} values of {said}"
    return cond, said


def _named_comparison(t: str, find: Find) -> tuple[str, str, float, str] | None:
    detectable = re.fullmatch(r"(?:a\s+)?detectable\s+(?P<name>.+)", t, re.I)
    if detectable:
        key = _observation(detectable.group("name"), find)
        return (key, ">", 0.0, "") if key else None
    # "4 or more migraine days per month", "at least 4 migraine days per month": the number
    # comes first and the observation is what is counted.
    counted = re.fullmatch(
        rf"(?:(?P<pre>{_AT_LEAST}|{_ABOVE}|{_BELOW}|{_AT_MOST})\s+)?{_NUM}"
        rf"(?:\s+(?P<post>{_OR_MORE}|or (?:fewer|less)))?\s+(?P<name>.+)",
        t,
        re.I,
    )
    if counted and bool(counted.group("pre")) != bool(counted.group("post")):
        key = _observation(counted.group("name"), find)
        if key is None:
            return None
        said = f"{counted.group('pre') or ''} {counted.group('num')} {counted.group('post') or ''}"
        cmp = _comparison(re.sub(r"\s+", " ", said).strip())
        return (key, cmp[0], cmp[1], "") if cmp else None
    # "<observation> [of|with a peak ...] <comparison>": try every split, the name as short as
    # the comparison allows.
    for m in re.finditer(r"\s+", t):
        name, rest = t[: m.start()], t[m.end() :]
        rest = re.sub(r"^(?:is|was|of|with an? (?:value|result|level) of)\s+(?=\D)", "", rest)
        cmp = _comparison(rest)
        if cmp is None:
            continue
        key = _peak_observation(name, find) or _observation(name, find)
        if key is None:
            return None
        return key, *cmp
    return None


def _peak_observation(name: str, find: Find) -> str | None:
    """'growth hormone stimulation tests with a peak growth hormone': the test and the value it
    reports are one observation."""
    m = re.fullmatch(r"(?P<test>.+?)\s+with\s+an?\s+(?P<value>peak .+)", name, re.I)
    if not m:
        return None
    # "growth hormone stimulation tests": a test that stimulates what it then measures.
    test = re.sub(
        r"\s+(?:stimulation|suppression)(?=(?:\s+tests?)?$)", "", m.group("test"), flags=re.I
    )
    a, b = _observation(test, find), _observation(m.group("value"), find)
    return a if a is not None and a == b else None


def read_change(text: str, find: Find) -> Read | None:
    """A change from baseline: 'Patient has lost at least 5% of baseline body weight', 'At least
    a 50% reduction in migraine days per month from baseline'."""
    t = re.sub(r"^patient has (?:had |experienced |achieved |demonstrated )?", "", text, flags=re.I)
    m = re.fullmatch(
        rf"lost {_AT_LEAST} {_NUM}% of (?:(?:their|his|her) )?(?:baseline|initial|starting)"
        r" (?P<name>.+)",
        t,
        re.I,
    ) or re.fullmatch(
        rf"(?:an? )?{_AT_LEAST} (?:an? )?{_NUM}% (?:reduction|decrease) in (?P<name>.+?)"
        r" (?:from|compared (?:to|with)|relative to) baseline",
        t,
        re.I,
    )
    if not m:
        return None
    key = _observation(m.group("name"), find)
    if key is None:
        return None
    pct = float(m.group("num"))
    return (
        {"observation": key, "decrease_pct": pct},
        f"{key} at least {pct:g}% below its baseline",
    )


def read_sex(text: str) -> Read | None:
    m = re.fullmatch(
        r"(?:patient is (?:a )?|patient's sex is |sex:?\s*|member is (?:a )?)?"
        r"(?P<sex>male|female|man|woman)(?: sex| patient)?",
        text.strip(),
        re.I,
    )
    if not m:
        return None
    sex = {"man": "male", "woman": "female"}.get(m.group("sex").lower(), m.group("sex").lower())
    return {"sex": sex}, f"{sex} sex"


# "Patient is", "The member is age", "Age:", "aged" before the number
_AGE_SUBJECT = r"(?:(?:the )?(?:patient|member) (?:is|must be)\s+)?(?:aged?\s*:?\s*)?"


def read_age(text: str) -> Read | None:
    """Ages the year-only reader cannot hold: in months ('6 months of age or older') and ranges
    ('12 to 17 years of age', 'between 2 and 17 years old')."""
    t = text.strip()
    m = re.fullmatch(
        rf"{_AGE_SUBJECT}(?:at least\s+)?(?P<n>\d+)\s*months?(?: of age| old)?"
        r"(?:\s*(?:or|and) (?:older|above|over))?",
        t,
        re.I,
    )
    if m and ("at least" in t.lower() or re.search(r"\b(?:older|above|over)\b", t, re.I)):
        n = int(m.group("n"))
        return {"min_months": n}, f"an age of at least {n} months"
    m = re.fullmatch(
        rf"{_AGE_SUBJECT}(?:between\s+)?(?P<lo>\d+)\s*(?:to|-|through|and)\s*(?P<hi>\d+)\s*"
        r"years?(?: of age| old)?(?:,? inclusive)?",
        t,
        re.I,
    )
    if m:
        lo, hi = int(m.group("lo")), int(m.group("hi"))
        if lo > hi:
            return None
        return {"min_years": lo, "max_years": hi}, f"an age from {lo} to {hi} years"
    # "Age < 12 years", "Age >= 12 years and < 18 years": an upper bound below N years is up to
    # N - 1 whole years (the condition's max_years counts to the day before the Nth birthday).
    m = re.fullmatch(
        rf"{_AGE_SUBJECT}(?:(?:>=|greater than or equal to)\s*(?P<lo>\d+)\s*(?:years?)?\s*and\s*)?"
        r"(?:<|less than|under|younger than)\s*(?P<hi>\d+)\s*years?(?: of age| old)?",
        t,
        re.I,
    )
    if m and int(m.group("hi")) > 0:
        hi = int(m.group("hi")) - 1
        if m.group("lo") is None:
            return {"max_years": hi}, f"an age under {hi + 1} years"
        lo = int(m.group("lo"))
        if lo > hi:
            return None
        return {"min_years": lo, "max_years": hi}, f"an age from {lo} to {hi} years"
    return None


_COMORBID = re.compile(
    r"\s+(?:with|and|plus|in the presence of) (?:at least one|one or more|an?)\s+"
    r"(?P<group>[a-z][a-z -]+?)(?:\s*\((?:e\.g\.|eg|such as)[^)]*\))?$",
    re.I,
)


@cache
def _groups() -> dict[str, dict[str, dict[str, list[str]]]]:
    path = resources.files("priorauth.policy") / "knowledge" / "groups.yaml"
    data: dict[str, dict[str, dict[str, list[str]]]] = yaml.safe_load(
        path.read_text(encoding="utf-8")
    )
    return data


@cache
def comorbidity_groups() -> dict[str, tuple[str, tuple[str, ...]]]:
    """A group of diseases as documents name it -> the group's key and its disease keys
    (``knowledge/groups.yaml``)."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for key, group in _groups()["diseases"].items():
        for name in group["names"]:
            out[name.lower()] = (key, tuple(group["members"]))
    return out


def class_division(key: str) -> tuple[str, ...] | None:
    """The classes a class of drugs divides into, for "from different classes"; None when the
    tables do not divide it."""
    group = _groups()["classes"].get(key)
    return tuple(group["members"]) if group else None


def read_bmi(text: str, find: Find) -> Read | None:
    """'BMI >= 30 kg/m2, or BMI >= 27 kg/m2 with at least one weight-related comorbidity', and
    either half alone. The comorbidities are the weight-related ones of the knowledge tables
    (the examples in parentheses only illustrate them)."""
    t = re.sub(_SUBJECT, "", text.strip(), flags=re.I)
    alone: float | None = None
    with_comorbidity: float | None = None
    diseases: tuple[str, ...] = ()
    parts = re.split(
        r",?\s+or\s+(?=(?:a\s+)?(?:bmi|body mass|>=|\d|at least|of at least))", t, flags=re.I
    )
    if len(parts) > 2:
        return None
    for part in parts:
        comorbid = _COMORBID.search(part)
        body = part[: comorbid.start()] if comorbid else part
        got = _bmi_threshold(body, find)
        if got is None:
            return None
        if comorbid:
            group = comorbidity_groups().get(comorbid.group("group").strip().lower())
            if with_comorbidity is not None or group is None:
                return None
            with_comorbidity, diseases = got, group[1]
        else:
            if alone is not None:
                return None
            alone = got
    if alone is None and with_comorbidity is None:
        return None
    fields: dict[str, Any] = {}
    said = []
    if alone is not None:
        fields["min"] = alone
        said.append(f"BMI >= {alone:g}")
    if with_comorbidity is not None:
        fields["min_with_comorbidity"] = with_comorbidity
        fields["comorbidities"] = list(diseases)
        said.append(f"BMI >= {with_comorbidity:g} with a weight-related comorbidity")
    return fields, ", or ".join(said)


def _bmi_threshold(text: str, find: Find) -> float | None:
    """'Body mass index (BMI) >= 30 kg/m2', 'BMI of 27 kg/m2 or greater', '>= 27 kg/m2' (the
    second half of an 'or' may leave the name out)."""
    t = text.strip()
    bare = re.fullmatch(rf"(?:a\s+)?(?:{_AT_LEAST}|of)?\s*{_NUM}\s*{_UNIT}(?:\s+{_OR_MORE})?", t)
    if bare and bare.group("unit") in ("kg/m2", "kg/m^2", "kg/m²"):
        cmp = _comparison(t)
        return cmp[1] if cmp and cmp[0] == ">=" else None
    got = _named_comparison(re.sub(r"^an?\s+", "", t, flags=re.I), find)
    if got is None:
        return None
    key, op, value, unit = got
    if key != "bmi" or op != ">=" or unit not in ("", "kg/m2", "kg/m^2", "kg/m²"):
        return None
    return value


_DOSE_CAP = re.compile(
    r"(?:the )?(?:requested )?(?:dose|dosing|dosage) (?:does not|will not|must not|may not|is not"
    r" to) exceed\s+"
    rf"{_NUM}\s*mg(?P<kg>\s*(?:/|per)\s*kg)?(?: of body weight)?\s+"
    r"(?P<per>(?:per|a|each|every|/)\s*(?:week|day)|once weekly|weekly|once daily|daily)",
    re.I,
)


def read_dose_limit(text: str) -> Read | None:
    """A dose cap per week or per kilogram of body weight: 'Dose does not exceed 2.4 mg per
    week', 'Dose does not exceed 0.16 mg/kg once weekly'. A cap in mg per day without a weight is
    the quantity limit, which the limits stage reads; it is not read here."""
    m = _DOSE_CAP.fullmatch(text.strip())
    if not m:
        return None
    weekly = "week" in m.group("per").lower()
    if not weekly and not m.group("kg"):
        return None
    value = float(m.group("num"))
    key = "max_mg" + ("_per_kg" if m.group("kg") else "") + ("_per_week" if weekly else "_per_day")
    shown = f"at most {value:g} mg" + (" per kg" if m.group("kg") else "")
    return {key: value}, shown + (" a week" if weekly else " a day")
