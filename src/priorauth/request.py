"""The request contract: what a prescriber's office submits for a prior authorization.

For every list, *absent* (None) means unknown and ``[]`` means none: the engine pends on the first
and decides on the second.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from priorauth.errors import RequestError
from priorauth.policy.observations import LOINC, observation_problem
from priorauth.policy.units import UNIT_LIMIT, Form, strength_mg

_ICD10 = re.compile(r"[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Booleans and numbers must be JSON booleans and numbers: "yes" or "240" is a mistake to report,
# not to guess at.
Flag = Annotated[bool, Field(strict=True)]
Number = Annotated[float, Field(strict=True, gt=0, le=1_000_000)]

# Every free-text value and every list has a length limit: a worker remembers what it has looked
# up per distinct name (bounded in number), and a name of unbounded length would make each entry
# as large as the body allows. The longest drug, regimen or test name in the knowledge tables, and
# the longest criterion id of the built-in policies, are under a hundred characters.
TEXT_LIMIT = 200
ITEMS_LIMIT = 200
Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMIT)]
OptionalText = Annotated[str, StringConstraints(max_length=TEXT_LIMIT)]
Key = Annotated[str, StringConstraints(max_length=TEXT_LIMIT)]


FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)


def _date_text(v: Any) -> Any:
    # pydantic's lax mode reads a number as a Unix timestamp ("birth_date": 0 is 1970-01-01): a
    # guess no prescriber meant.
    if isinstance(v, bool | int | float):
        raise ValueError("must be a date as text, YYYY-MM-DD")
    return v


# A date of the contract: ISO text (or a date object from Python), never a number.
Day = Annotated[dt.date, BeforeValidator(_date_text)]


def _in_range(v: dt.date) -> dt.date:
    if not FIRST_DAY <= v <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return v


Sex = Literal["female", "male", "other", "unknown"]


class Member(_Strict):
    # A NUL is never meant in an identifier, and databases refuse it.
    id: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")
    birth_date: Day
    sex: Sex | None = Field(
        default=None, description="female, male, other or unknown; absent: not given"
    )

    @field_validator("birth_date")
    @classmethod
    def _birth_in_range(cls, v: dt.date) -> dt.date:
        return _in_range(v)


class Prescriber(_Strict):
    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    name: OptionalText | None = None
    specialty: Text | None = Field(
        default=None, description="e.g. oncology, dermatology, rheumatology"
    )


def strength_problem(written: str) -> str | None:
    if strength_mg(written) is False:
        return (
            f"cannot read {written!r} as a strength (e.g. 300 mg/2 mL, 20.25 mg per actuation, "
            "100 units/mL)"
        )
    return None


class Medication(_Strict):
    name: Text
    strength_mg: Number
    quantity: Number = Field(description="how many of ``form`` (tablets when no form is given)")
    days_supply: Annotated[int, Field(strict=True, gt=0, le=366)]
    strength: Annotated[str, StringConstraints(min_length=1, max_length=UNIT_LIMIT)] | None = Field(
        default=None, description="as the label writes it: 300 mg/2 mL, 100 units/mL"
    )
    form: Form | None = Field(default=None, description="what quantity counts")

    @field_validator("strength")
    @classmethod
    def _strength_reads(cls, v: str | None) -> str | None:
        if v is not None and (problem := strength_problem(v)):
            raise ValueError(problem)
        return v


Extent = Literal["localized", "locally_advanced", "metastatic"]
Severity = Literal["mild", "moderate", "severe"]


class Diagnosis(_Strict):
    code: str = Field(max_length=16, description="ICD-10-CM code, with or without the dot")
    histology: OptionalText | None = None
    extent: Extent | None = None
    resectable: Flag | None = None
    severity: Severity | None = None

    @field_validator("code")
    @classmethod
    def _icd10(cls, v: str) -> str:
        if not _ICD10.fullmatch(v.strip()):
            raise ValueError("not an ICD-10-CM code (expected e.g. C34.90 or C3490)")
        return v.strip()


class Biomarker(_Strict):
    gene: Text
    alteration: OptionalText | None = None
    result: Literal["positive", "negative"]
    test: OptionalText | None = None
    fda_approved: Flag | None = None


class Therapy(_Strict):
    drug: Text
    months: Annotated[float, Field(strict=True, ge=0)] | None = Field(
        default=None, description="how long it was given, in months"
    )


class DiseaseStatus(_Strict):
    progression: Flag | None = None
    unacceptable_toxicity: Flag | None = None
    clinical_response: Flag | None = Field(
        default=None, description="a positive clinical response to the requested drug"
    )


class StepTrial(_Strict):
    """A drug tried before the requested one, and how that ended (step therapy)."""

    drug: Text
    outcome: Literal["failure", "intolerance", "contraindication"]
    days: Annotated[int, Field(strict=True, ge=0, le=36600)] | None = Field(
        default=None, description="how many days it was tried"
    )
    daily_dose_mg: Number | None = None
    start: Day | None = None
    end: Day | None = None


# The largest magnitude an observation can have: far beyond any lab value, small enough that
# converting units never overflows.
OBSERVATION_LIMIT = 1e9
ObservationValue = Annotated[
    float, Field(strict=True, ge=-OBSERVATION_LIMIT, le=OBSERVATION_LIMIT, allow_inf_nan=False)
]


class Observation(_Strict):
    """A lab result, vital sign, score or count: by LOINC ``code`` or common ``name``."""

    code: str | None = Field(
        default=None, max_length=16, pattern=LOINC.pattern, description="LOINC code, e.g. 39156-5"
    )
    name: OptionalText | None = Field(default=None, description="e.g. BMI, LDL-C, HbA1c")
    value: ObservationValue
    unit: Annotated[str, StringConstraints(max_length=UNIT_LIMIT)] | None = Field(
        default=None, description="as written: mg/dL, mmol/L, kg/m2, cells/uL, %, /month"
    )
    date: dt.date | dt.datetime | None = Field(
        default=None, description="when it was measured: a date, or a date-time"
    )

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, v: Any) -> Any:
        if isinstance(v, str):
            read = _observed_on(v)
            if read is None:
                raise ValueError("expected a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM)")
            return read
        return _date_text(v)


class Continuation(_Strict):
    """Whether the member already receives the requested drug (continuation of therapy)."""

    currently_receiving: Flag
    via_samples: Flag | None = None


class PriorAuthorization(_Strict):
    """An authorization another payer granted for the requested drug (continuity of care when
    the member changes plans)."""

    payer: Text = Field(description="the payer that granted it (a plan id or the payer's name)")
    number: Text = Field(description="the authorization's number at that payer")
    drug: Text = Field(description="the drug it authorizes, brand or generic name")
    start: Day
    end: Day = Field(description="the last day it covers, inclusive")

    @field_validator("start", "end")
    @classmethod
    def _period_in_range(cls, v: dt.date) -> dt.date:
        return _in_range(v)


class Request(_Strict):
    kind: Literal["initial", "renewal"]
    plan: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        max_length=64,
        description="the member's plan (e.g. fep); absent: the deployment's default plan",
    )
    date_of_service: Day
    urgency: Literal["standard", "expedited"] = "standard"
    member: Member

    @field_validator("date_of_service")
    @classmethod
    def _service_in_range(cls, v: dt.date) -> dt.date:
        return _in_range(v)

    prescriber: Prescriber | None = None
    medication: Medication
    diagnoses: list[Diagnosis] | None = Field(default=None, max_length=ITEMS_LIMIT)
    biomarkers: list[Biomarker] | None = Field(default=None, max_length=ITEMS_LIMIT)
    prior_therapies: list[Therapy] | None = Field(default=None, max_length=ITEMS_LIMIT)
    concurrent_therapies: list[Therapy] | None = Field(default=None, max_length=ITEMS_LIMIT)
    attestations: dict[Key, Flag] | None = Field(default=None, max_length=ITEMS_LIMIT)
    disease_status: DiseaseStatus | None = None
    step_therapy: list[StepTrial] | None = Field(default=None, max_length=ITEMS_LIMIT)
    continuation: Continuation | None = None
    answers: dict[Key, Flag] | None = Field(default=None, max_length=ITEMS_LIMIT)
    prior_authorization: PriorAuthorization | None = Field(
        default=None,
        description="another payer's active authorization of the drug: honored for 90 days "
        "(continuity of care)",
    )
    observations: list[Observation] | None = Field(default=None, max_length=ITEMS_LIMIT)

    @model_validator(mode="after")
    def _born_before_service(self) -> Request:
        if self.member.birth_date > self.date_of_service:
            raise ValueError("member.birth_date: is after date_of_service")
        pa = self.prior_authorization
        if pa is not None and pa.start > pa.end:
            raise ValueError(
                f"prior_authorization.start: {pa.start} is after prior_authorization.end {pa.end}"
            )
        problem = facts_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


def facts_problem(r: Request | FastRequest) -> str | None:
    """What the field types cannot check, as ``field: problem``: observations the tables cannot
    read or units that do not convert, trials that end before they start."""
    observations: Sequence[Observation | FastObservation] = r.observations or ()
    trials: Sequence[StepTrial | FastStepTrial] = r.step_therapy or ()
    for i, o in enumerate(observations):
        problem = observation_problem(o.code, o.name, o.unit)
        if problem is not None:
            return f"observations[{i}].{problem}"
        if isinstance(o.date, str) and _observed_on(o.date) is None:
            return f"observations[{i}].date: expected a date (YYYY-MM-DD) or a date-time"
    for i, t in enumerate(trials):
        if t.start is not None and t.end is not None and t.start > t.end:
            return f"step_therapy[{i}].end: is before start ({t.start})"
    return None


@lru_cache(maxsize=4096)
def _observed_on(text: str) -> dt.date | dt.datetime | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def observed_on(value: dt.date | dt.datetime | str | None) -> dt.date | dt.datetime | None:
    """An observation's date as the engine reads it, from either validator (the fast one keeps
    the text: msgspec cannot tell a date from a date-time in one field). A date-time with an
    offset is read at the time of day written, the offset dropped: a morning value is one taken
    in the member's morning, and values with and without an offset compare."""
    if isinstance(value, str):
        value = _observed_on(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


_DATE_ERRORS = frozenset(
    ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact")
)


def _first_error(exc: ValidationError) -> RequestError:
    err = exc.errors(include_url=False)[0]
    loc = err["loc"]
    if loc and loc[-1] == "[key]":
        # A dict's key: the field is the dict, and the key itself may be too long to repeat.
        loc = loc[:-2]
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc)
    field = field.replace(".[", "[")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "string_too_long":
        limit = err.get("ctx", {}).get("max_length")
        msg = f"at most {limit} characters"
        if loc != err["loc"]:
            msg = f"each key {msg}"
    elif err["type"] == "too_long":
        msg = f"at most {err.get('ctx', {}).get('max_length')} items"
    if err["type"] in _DATE_ERRORS:
        msg += " (expected a date as YYYY-MM-DD)"
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "json_invalid":
        field, msg = "request", f"not valid JSON ({err.get('ctx', {}).get('error', msg)})"
    elif err["type"] == "model_type" and not field:
        field, msg = "request", "must be a JSON object"
    if not field and ": " in msg:
        field, msg = msg.split(": ", 1)
    return RequestError(field or "request", msg)


def parse_request(data: Any) -> Request:
    """Validate a dict, JSON text or bytes into a Request, or raise RequestError naming a field."""
    if isinstance(data, Request):
        return data
    try:
        if isinstance(data, str | bytes | bytearray):
            return Request.model_validate_json(data)
        return Request.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc) from None


# --- the compiled validator ----------------------------------------------------------------
#
# The same contract as msgspec Structs, which validate a dict or JSON bytes several times faster
# than pydantic. They accept a subset of what the models above accept, with the same values
# (patterns are written so that they can only be stricter: no surrounding spaces in a code, ASCII
# digits in an NPI); whatever they refuse goes through pydantic, which either words the error
# exactly as before or accepts the request. The engine reads both kinds alike, attribute by
# attribute. Lists are tuples here: a tuple of frozen Structs can key a memo (the compiled path
# remembers each criterion's status per distinct list). Patterns are checked after conversion,
# once per distinct string (msgspec runs Python's re on every value, which costs more than the
# rest of the validation). To add a field, add it to both classes.

_FLOAT = Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_LIMIT)]
_OptionalText = Annotated[str, msgspec.Meta(max_length=TEXT_LIMIT)]
_Items = msgspec.Meta(max_length=ITEMS_LIMIT)
_Flags = Annotated[dict[_OptionalText, bool], _Items]


class _Struct(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """Frozen data without cycles: nothing for the garbage collector to track."""


class FastMember(_Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    birth_date: dt.date
    sex: Sex | None = None


class FastPrescriber(_Struct, frozen=True):
    npi: str | None = None
    name: _OptionalText | None = None
    specialty: _Text | None = None


class FastMedication(_Struct, frozen=True):
    name: _Text
    strength_mg: _FLOAT
    quantity: _FLOAT
    days_supply: Annotated[int, msgspec.Meta(gt=0, le=366)]
    strength: Annotated[str, msgspec.Meta(min_length=1, max_length=UNIT_LIMIT)] | None = None
    form: Form | None = None


class FastDiagnosis(_Struct, frozen=True):
    code: Annotated[str, msgspec.Meta(max_length=16)]
    histology: _OptionalText | None = None
    extent: Extent | None = None
    resectable: bool | None = None
    severity: Severity | None = None


class FastBiomarker(_Struct, frozen=True):
    gene: _Text
    result: Literal["positive", "negative"]
    alteration: _OptionalText | None = None
    test: _OptionalText | None = None
    fda_approved: bool | None = None


class FastTherapy(_Struct, frozen=True):
    drug: _Text
    months: Annotated[float, msgspec.Meta(ge=0)] | None = None


class FastDiseaseStatus(_Struct, frozen=True):
    progression: bool | None = None
    unacceptable_toxicity: bool | None = None
    clinical_response: bool | None = None


class FastStepTrial(_Struct, frozen=True):
    drug: _Text
    outcome: Literal["failure", "intolerance", "contraindication"]
    days: Annotated[int, msgspec.Meta(ge=0, le=36600)] | None = None
    daily_dose_mg: _FLOAT | None = None
    start: dt.date | None = None
    end: dt.date | None = None


class FastObservation(_Struct, frozen=True):
    value: Annotated[float, msgspec.Meta(ge=-OBSERVATION_LIMIT, le=OBSERVATION_LIMIT)]
    code: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    name: _OptionalText | None = None
    unit: Annotated[str, msgspec.Meta(max_length=UNIT_LIMIT)] | None = None
    date: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class FastContinuation(_Struct, frozen=True):
    currently_receiving: bool
    via_samples: bool | None = None


class FastPriorAuthorization(_Struct, frozen=True):
    payer: _Text
    number: _Text
    drug: _Text
    start: dt.date
    end: dt.date


class FastRequest(_Struct, frozen=True):
    kind: Literal["initial", "renewal"]
    date_of_service: dt.date
    member: FastMember
    medication: FastMedication
    urgency: Literal["standard", "expedited"] = "standard"
    plan: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    prescriber: FastPrescriber | None = None
    diagnoses: Annotated[tuple[FastDiagnosis, ...], _Items] | None = None
    biomarkers: Annotated[tuple[FastBiomarker, ...], _Items] | None = None
    prior_therapies: Annotated[tuple[FastTherapy, ...], _Items] | None = None
    concurrent_therapies: Annotated[tuple[FastTherapy, ...], _Items] | None = None
    attestations: _Flags | None = None
    disease_status: FastDiseaseStatus | None = None
    step_therapy: Annotated[tuple[FastStepTrial, ...], _Items] | None = None
    continuation: FastContinuation | None = None
    answers: _Flags | None = None
    prior_authorization: FastPriorAuthorization | None = None
    observations: Annotated[tuple[FastObservation, ...], _Items] | None = None


AnyRequest = Request | FastRequest
"""A validated request: the pydantic model, or the Struct the fast validator gives."""

_convert = msgspec.convert
_decode = msgspec.json.Decoder(FastRequest).decode
_ValidationFailed = (msgspec.ValidationError, msgspec.DecodeError)


# Stricter than the models' patterns (no surrounding spaces, ASCII digits), never looser.
_FAST_CODE = re.compile(r"[A-Za-z][0-9][0-9A-Za-z](?:\.?[0-9A-Za-z]{1,4})?")
_FAST_NPI = re.compile(r"[0-9]{10}")
_FAST_PLAN = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_good_codes: set[str] = set()
_good_npis: set[str] = set()
_good_plans: set[str] = set()


def _matches(text: str, pattern: re.Pattern[str], good: set[str]) -> bool:
    if text in good:
        return True
    if pattern.fullmatch(text) is None:
        return False
    if len(good) >= 65536:
        good.clear()
    good.add(text)
    return True


def _checks_pass(r: FastRequest) -> bool:
    """What the Structs do not check: patterns, the dates' range and order."""
    birth = r.member.birth_date
    if not FIRST_DAY <= birth <= r.date_of_service <= LAST_DAY or "\x00" in r.member.id:
        return False
    if r.diagnoses:
        for d in r.diagnoses:
            if d.code not in _good_codes and not _matches(d.code, _FAST_CODE, _good_codes):
                return False
    if r.plan is not None and not _matches(r.plan, _FAST_PLAN, _good_plans):
        return False
    pa = r.prior_authorization
    if pa is not None and not FIRST_DAY <= pa.start <= pa.end <= LAST_DAY:
        return False
    p = r.prescriber
    if p is not None and p.npi is not None and not _matches(p.npi, _FAST_NPI, _good_npis):
        return False
    m = r.medication
    if m.strength is not None and strength_problem(m.strength) is not None:
        return False
    obs = r.observations
    if obs:
        for o in obs:
            if (o.code, o.name, o.unit) not in _good_observations or (
                o.date is not None and o.date not in _good_dates
            ):
                return _observations_pass(obs)
    trials = r.step_therapy
    if trials:
        for t in trials:
            if t.start is not None and t.end is not None and t.start > t.end:
                return False
    return True


_good_observations: set[tuple[str | None, str | None, str | None]] = set()
_good_dates: set[str] = set()


def _observations_pass(obs: tuple[FastObservation, ...]) -> bool:
    """Each (code, name, unit) and date text checked once, then remembered as good (a bounded
    number of them)."""
    for o in obs:
        spelled = (o.code, o.name, o.unit)
        if spelled not in _good_observations:
            if observation_problem(*spelled) is not None:
                return False
            if len(_good_observations) >= 65536:
                _good_observations.clear()
            _good_observations.add(spelled)
        if o.date is not None and o.date not in _good_dates:
            if _observed_on(o.date) is None:
                return False
            if len(_good_dates) >= 65536:
                _good_dates.clear()
            _good_dates.add(o.date)
    return True


def read_dict(data: dict[str, Any]) -> AnyRequest:
    """:func:`read_request` for a dict (the commonest call, without the type dispatch)."""
    try:
        fast: FastRequest = _convert(data, FastRequest, strict=True)
    except msgspec.ValidationError:
        return parse_request(data)
    return fast if _checks_pass(fast) else parse_request(data)


def read_json(raw: bytes | str) -> AnyRequest:
    """:func:`read_request` for JSON bytes or text."""
    try:
        fast: FastRequest = _decode(raw)
    except _ValidationFailed:
        return parse_request(raw)
    return fast if _checks_pass(fast) else parse_request(raw)


def read_request(data: Any) -> AnyRequest:
    """Validate a dict, JSON text or bytes as :func:`parse_request` does, by the fast validator
    when it accepts, else by pydantic (which words the error)."""
    try:
        if isinstance(data, (bytes, str)):
            fast = _decode(data)
        elif type(data) is dict:
            fast = _convert(data, FastRequest, strict=True)
        else:
            return parse_request(data)
    except _ValidationFailed:
        return parse_request(data)
    if not _checks_pass(fast):
        return parse_request(data)
    return fast
