"""The policy model: a published drug policy as data, one file per version."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Extent = Literal["localized", "locally_advanced", "metastatic"]
Severity = Literal["mild", "moderate", "severe"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the criterion vocabulary -------------------------------------------------------------


class AgeCondition(_Model):
    """The member's age on the date of service, in completed years or months, bounds included:
    "18 years of age or older" is ``min_years: 18``; "12 to 17 years" is ``min_years: 12,
    max_years: 17`` (up to the day before the 18th birthday); "6 months of age or older" is
    ``min_months: 6``."""

    type: Literal["age"]
    min_years: int = Field(default=0, ge=0)
    max_years: int | None = Field(default=None, ge=0)
    min_months: int | None = Field(default=None, ge=0)
    max_months: int | None = Field(default=None, ge=0)

    @property
    def years_only(self) -> bool:
        """Only a minimum in years: the shape every policy had before ranges and months."""
        return self.max_years is None and self.min_months is None and self.max_months is None


class DiagnosisCondition(_Model):
    """A diagnosis of ``disease`` (a key of the diagnoses table) with one of ``extents``."""

    type: Literal["diagnosis"]
    disease: str
    extents: list[Extent] | None = Field(
        default=None, description="accepted extents; absent: any extent"
    )
    resectable: bool | None = Field(default=None, description="false: unresectable disease")
    extent_or_unresectable: bool = Field(
        default=False,
        description="true: one of ``extents`` OR unresectable is enough ('unresectable or "
        "metastatic'), rather than both",
    )
    severities: list[Severity] | None = Field(
        default=None,
        description="accepted severities ('moderate-to-severe': [moderate, severe]); absent: any",
    )


class BiomarkerCondition(_Model):
    """A ``result`` for ``gene`` (one of ``alterations``, or any alteration when none are named),
    optionally by a test FDA-approved for ``disease``."""

    type: Literal["biomarker"]
    gene: str
    alterations: list[str] = []
    result: Literal["positive", "negative"] = "positive"
    fda_approved_test: bool = False
    disease: str | None = Field(default=None, description="disease the test must be approved for")


class PriorTherapyCondition(_Model):
    """Prior treatment: at least ``min_systemic`` systemic therapies; every one of
    ``all_classes``; at least one of ``any_classes`` (classes or drug names)."""

    type: Literal["prior_therapy"]
    min_systemic: int = Field(default=0, ge=0)
    max_systemic: int | None = Field(default=None, ge=0, description="0: first-line")
    all_classes: list[str] = []
    any_classes: list[str] = []
    progression: bool | None = Field(
        default=None, description="true: the disease progressed on it; false: it did not"
    )
    not_progressed_on: list[str] = Field(
        default=[], description="met unless one of these was given and the disease progressed"
    )
    limit_drug: str | None = Field(default=None, description="a drug given for at most ...")
    limit_months: int | None = Field(default=None, ge=0, description="... this many months")
    not_received: list[str] = Field(
        default=[], description="met when none of these drugs or classes was ever given"
    )
    only_in_setting: Literal["adjuvant"] | None = Field(
        default=None, description="the condition applies only in this setting (met otherwise)"
    )

    @model_validator(mode="after")
    def _says_something(self) -> PriorTherapyCondition:
        if not (
            self.min_systemic
            or self.max_systemic is not None
            or self.all_classes
            or self.any_classes
            or self.not_progressed_on
            or self.limit_drug
            or self.not_received
        ):
            raise ValueError(
                "needs min_systemic, max_systemic, all_classes, any_classes or not_progressed_on"
            )
        return self


class ConcurrentTherapyCondition(_Model):
    """What the drug is used with: as a single agent; with one of ``with_any``; with every one
    of ``with_all``; or with none of ``none_of``. Entries are drug names or drug classes."""

    type: Literal["concurrent_therapy"]
    single_agent: bool = False
    with_any: list[str] = []
    with_all: list[str] = []
    none_of: list[str] = []

    @model_validator(mode="after")
    def _one_mode(self) -> ConcurrentTherapyCondition:
        modes = [self.single_agent, bool(self.with_any), bool(self.with_all), bool(self.none_of)]
        if sum(modes) != 1:
            raise ValueError("give exactly one of single_agent: true, with_any, with_all, none_of")
        return self


class SettingCondition(_Model):
    """The treatment setting. Adjuvant: after a resection of disease that is not metastatic."""

    type: Literal["setting"]
    setting: Literal["adjuvant"]


class AttestationCondition(_Model):
    """The prescriber attests to ``key`` (e.g. liver_function_monitoring)."""

    type: Literal["attestation"]
    key: str


class DiseaseStatusCondition(_Model):
    """No disease progression and/or no unacceptable toxicity and/or a positive clinical
    response (``disease_status.clinical_response``)."""

    type: Literal["disease_status"]
    no_progression: bool = True
    no_unacceptable_toxicity: bool = True
    positive_response: bool = False


class PrescriberSpecialtyCondition(_Model):
    """The prescriber's specialty (``prescriber.specialty``) is one of ``specialties`` (keys of
    the specialties table). With ``consultation: true`` ("prescribed by or in consultation
    with"), another specialty leaves the criterion unknown rather than failed."""

    type: Literal["prescriber_specialty"]
    specialties: list[str] = Field(min_length=1)
    consultation: bool = False


StepOutcome = Literal["failure", "intolerance", "contraindication"]


class StepTherapyCondition(_Model):
    """Step therapy: at least ``min_count`` of ``drugs`` (drug names or classes) tried, each
    with one of the accepted ``outcomes`` (request field ``step_therapy``). A failure counts
    only after ``min_days`` at ``min_daily_dose_mg`` or more (an intolerance or a
    contraindication counts however short the trial); with ``different_classes``, the drugs
    counted must come from as many different classes of ``drugs``."""

    type: Literal["step_therapy"]
    drugs: list[str] = Field(min_length=1)
    outcomes: list[StepOutcome] = Field(min_length=1)
    min_count: int = Field(default=1, ge=1)
    min_days: int | None = Field(default=None, ge=1, description="'at least 8 weeks': 56")
    min_daily_dose_mg: float | None = Field(default=None, gt=0)
    different_classes: bool = False

    @property
    def plain(self) -> bool:
        """No duration, dose, class or dose-defined class: the shape before issue 21."""
        return (
            self.min_days is None
            and self.min_daily_dose_mg is None
            and not (self.different_classes)
        )


class ContinuationCondition(_Model):
    """Continuation of therapy: the member is currently receiving the requested drug
    (``continuation.currently_receiving``); with ``excludes_samples``, not through samples."""

    type: Literal["continuation"]
    excludes_samples: bool = False


Comparison = Literal[">=", ">", "<", "<=", "between"]


class ObservationCondition(_Model):
    """A lab result, measurement, score or count (``observations[]``) compared with ``value``
    (and ``upper`` for ``between``, both included), stated in ``unit`` (absent: the unit of the
    observations table). The latest value decides; with ``within_days``, the latest measured in
    the ``within_days`` days up to the date of service. ``count``: that many values, on
    different days, meet the comparison ("two values below 300 ng/dL on separate days").
    ``morning``: measured before noon. ``change``: the comparison is on the change from the
    earliest value to the latest, in percent of the earliest or in the unit."""

    type: Literal["observation"]
    observation: str = Field(description="a key, name or LOINC code of the observations table")
    op: Comparison
    value: float
    upper: float | None = None
    unit: str | None = None
    within_days: int | None = Field(default=None, ge=0, le=36600)
    count: int = Field(default=1, ge=1)
    morning: bool = False
    change: Literal["percent", "absolute"] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ObservationCondition:
        if (self.op == "between") != (self.upper is not None):
            raise ValueError("upper is given with op: between, and only then")
        if self.upper is not None and self.upper < self.value:
            raise ValueError("upper is below value")
        if self.change is not None and self.count != 1:
            raise ValueError("a change from baseline compares one change: count must be 1")
        return self


class BmiCondition(_Model):
    """BMI of at least ``min`` or, with one of the ``comorbidities`` (disease keys), at least
    ``min_with_comorbidity``. The BMI is the latest given (``within_days`` of the date of
    service when set), else computed from the latest body weight and height, else read from a
    BMI diagnosis code (Z68) whose range settles it."""

    type: Literal["bmi"]
    min: float = Field(gt=0)
    min_with_comorbidity: float | None = Field(default=None, gt=0)
    comorbidities: list[str] = []
    within_days: int | None = Field(default=None, ge=0, le=36600)

    @model_validator(mode="after")
    def _alternative(self) -> BmiCondition:
        if (self.min_with_comorbidity is None) != (not self.comorbidities):
            raise ValueError("min_with_comorbidity and comorbidities go together")
        return self


class SexCondition(_Model):
    """The member's sex (``member.sex``) is one of ``sexes``."""

    type: Literal["sex"]
    sexes: list[Literal["female", "male"]] = Field(min_length=1)


class DoseLimitCondition(_Model):
    """The requested dose (strength_mg x quantity / days_supply) is at most ``max_mg_per_week``
    and/or ``max_mg_per_kg_per_day`` / ``max_mg_per_kg_per_week`` of the latest body weight."""

    type: Literal["dose_limit"]
    max_mg_per_day: float | None = Field(default=None, gt=0)
    max_mg_per_week: float | None = Field(default=None, gt=0)
    max_mg_per_kg_per_day: float | None = Field(default=None, gt=0)
    max_mg_per_kg_per_week: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> DoseLimitCondition:
        if all(
            v is None
            for v in (
                self.max_mg_per_day,
                self.max_mg_per_week,
                self.max_mg_per_kg_per_day,
                self.max_mg_per_kg_per_week,
            )
        ):
            raise ValueError("needs a limit: max_mg_per_day, max_mg_per_week or a per-kg one")
        return self


class QuestionCondition(_Model):
    """Anything else: a yes/no question that only a direct answer decides."""

    type: Literal["question"]


Condition = Annotated[
    AgeCondition
    | DiagnosisCondition
    | BiomarkerCondition
    | PriorTherapyCondition
    | ConcurrentTherapyCondition
    | SettingCondition
    | AttestationCondition
    | DiseaseStatusCondition
    | PrescriberSpecialtyCondition
    | StepTherapyCondition
    | ContinuationCondition
    | ObservationCondition
    | BmiCondition
    | SexCondition
    | DoseLimitCondition
    | QuestionCondition,
    Field(discriminator="type"),
]


class Criterion(_Model):
    """A node of the criteria tree: ALL of its children, ONE of them, a group whose document
    does not say which (AMBIGUOUS), or a single condition."""

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    text: str = Field(min_length=1, description="the policy's own wording")
    all: list[Criterion] | None = None
    any: list[Criterion] | None = None
    ambiguous: list[Criterion] | None = Field(
        default=None,
        description="items the document lists without saying whether all or one must hold: met "
        "only when every item is met, not met only when none is, otherwise a question",
    )
    condition: Condition | None = None
    question: str | None = Field(default=None, description="how to ask for this criterion")
    source: str | None = Field(default=None, description="where the wording stands in the document")
    indication: bool = Field(default=False, description="one of the policy's listed indications")
    flag: Literal["administrative"] | None = Field(
        default=None,
        description="administrative: a clause about benefits, formularies or compendia that a "
        "reviewer answers (never typed)",
    )
    indication_disease: str | None = Field(
        default=None,
        description="for an indication with no diagnosis criterion: the disease it is for "
        "(decides only whether a denial is investigational)",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> Criterion:
        groups = (self.all, self.any, self.ambiguous)
        shapes = [*(g is not None for g in groups), self.condition is not None]
        if sum(shapes) != 1:
            raise ValueError("a criterion has exactly one of all, any, ambiguous or condition")
        if any(g is not None and not g for g in groups):
            raise ValueError("all/any/ambiguous needs at least one criterion")
        return self

    @property
    def children(self) -> list[Criterion]:
        return self.all or self.any or self.ambiguous or []

    @property
    def shape(self) -> Literal["all", "any", "ambiguous", "condition"]:
        if self.all is not None:
            return "all"
        if self.any is not None:
            return "any"
        return "ambiguous" if self.ambiguous is not None else "condition"

    def walk(self) -> list[Criterion]:
        """This node and every node below it, in document order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


# --- limits and the rest of the document ---------------------------------------------------


# Dispensing units a plan counts in, besides mg: the request's quantity is counted in the same
# unit, and its strength_mg is the mg in one of them (a tablet, a pen, a mL).
QuantityUnit = Literal[
    "mg", "tablets", "capsules", "mL", "pens", "syringes", "vials", "units", "actuations"
]


class QuantityLimit(_Model):
    amount: float = Field(gt=0)
    unit: QuantityUnit
    per_days: int = Field(ge=1)
    text: str
    strength_mg: float | None = Field(default=None, description="for a limit per strength")


class DurationLimit(_Model):
    months: int = Field(ge=1)
    text: str


class Limits(_Model):
    quantity: QuantityLimit | None = None
    quantity_by_strength: list[QuantityLimit] = []
    duration: DurationLimit
    text: str | None = Field(default=None, description="wording when it refers elsewhere")

    def quantity_for(self, strength_mg: float) -> QuantityLimit | None:
        for q in self.quantity_by_strength:
            if q.strength_mg == strength_mg:
                return q
        return self.quantity


class Drug(_Model):
    brand: str
    generic: str
    strengths_mg: list[float] = []
    form: str = "tablet"


class HistoryEntry(_Model):
    date: str = Field(pattern=r"^\d{4}-\d{2}$", description="year and month, as the policy gives")
    action: str


class Requirements(_Model):
    initial: Criterion
    renewal: Criterion


class PolicyLimits(_Model):
    initial: Limits
    renewal: Limits


class Policy(_Model):
    number: str
    plan: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="the plan (payer and line of business, e.g. fep) whose policy this is; "
        "absent: the deployment's default plan",
    )
    title: str
    section: str
    subsection: str
    drug: Drug
    effective_date: dt.date
    original_policy_date: dt.date
    last_review_date: dt.date
    committee_approval_date: dt.date | None = None
    applies_to: list[Literal["pre_service", "post_service"]]
    applicability_text: str
    medically_necessary_text: str
    investigational_text: str
    requirements: Requirements
    limits: PolicyLimits
    pre_pa_allowance: str | None = Field(description="fills allowed before PA; None when none")
    pre_pa_allowance_text: str
    related_policies: list[str] = []
    references: list[str] = []
    history: list[HistoryEntry] = []
    curation_notes: list[str] = []

    @property
    def name(self) -> str:
        return self.drug.brand

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for root in (self.requirements.initial, self.requirements.renewal):
            for node in root.walk():
                if node.id in seen:
                    raise ValueError(f"criterion id {node.id!r} appears twice")
                seen.add(node.id)
        return self
