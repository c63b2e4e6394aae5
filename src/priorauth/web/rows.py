"""The submission form's repeatable rows: observations (lab results, vital signs, scores) and
step-therapy trials. The pages run no script, so a row is added or removed by a button that
posts the form back and gets it again with one row more or less, every value kept."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from priorauth.policy import units

LOINC_CODE = re.compile(r"^\d{1,7}-\d$")
MAX_ROWS = 20
OUTCOMES = {
    "failure": "failure (inadequate response)",
    "intolerance": "intolerance",
    "contraindication": "contraindication",
}
FORMS = units.FORMS
SEXES = ("female", "male", "other", "unknown")
SEVERITIES = ("mild", "moderate", "severe")


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Rows:
    name: str
    """The contract's list (`observations`): row i's inputs are `name[i].part`."""
    parts: tuple[str, ...]
    noun: str
    """What a row is, for the buttons' words (`an observation`)."""

    @property
    def counter(self) -> str:
        return f"{self.name}.rows"


OBSERVATION_ROWS = Rows("observations", ("name", "value", "unit", "date"), "observation")
TRIAL_ROWS = Rows(
    "step_therapy", ("drug", "outcome", "start", "end", "days", "daily_dose_mg"), "drug tried"
)
ALL_ROWS = (OBSERVATION_ROWS, TRIAL_ROWS)


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return (value[-1] if isinstance(value, list) else str(value)).strip()


def count(form: dict[str, Any], rows: Rows) -> int:
    """How many rows the form shows: its counter, and never fewer than the rows that hold a
    value (a form posted without the counter loses nothing)."""
    try:
        shown = int(_text(form, rows.counter) or 1)
    except ValueError:
        shown = 1
    filled = [
        i + 1
        for i in range(MAX_ROWS)
        if any(_text(form, f"{rows.name}[{i}].{p}") for p in rows.parts)
    ]
    return max(0, min(MAX_ROWS, max([shown, *filled])))


def edited(form: dict[str, Any]) -> dict[str, Any] | None:
    """The form with a row added or removed when one of the row buttons was pressed (`add` =
    `observations`, `remove` = `observations[1]`); None when the form was submitted."""
    add, remove = _text(form, "add"), _text(form, "remove")
    if not add and not remove:
        return None
    out = {k: v for k, v in form.items() if k not in ("add", "remove")}
    for rows in ALL_ROWS:
        n = count(form, rows)
        if add == rows.name:
            out[rows.counter] = str(min(MAX_ROWS, n + 1))
        m = re.fullmatch(re.escape(rows.name) + r"\[(\d+)\]", remove)
        if m and int(m.group(1)) < n:
            gone = int(m.group(1))
            for i in range(gone, n):
                for p in rows.parts:
                    later = out.get(f"{rows.name}[{i + 1}].{p}")
                    if later is None:
                        out.pop(f"{rows.name}[{i}].{p}", None)
                    else:
                        out[f"{rows.name}[{i}].{p}"] = later
            out[rows.counter] = str(n - 1)
    return out


def _number(form: dict[str, Any], name: str, integer: bool = False) -> float | int | None:
    value = _text(form, name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowError(name, f"{value!r} is not a number") from None
    if integer and number != int(number):
        raise RowError(name, "a whole number")
    return int(number) if number == int(number) else number


def _day(form: dict[str, Any], name: str, time: bool = False) -> str | None:
    value = _text(form, name)
    if not value:
        return None
    try:
        if time and "T" in value:
            return dt.datetime.fromisoformat(value).isoformat()
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        expected = "YYYY-MM-DD, or YYYY-MM-DDTHH:MM" if time else "YYYY-MM-DD"
        raise RowError(name, f"{value!r} is not a date (expected {expected})") from None


def observations(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Each filled observation row: a LOINC code or a name, the value, its unit and date."""
    out = []
    for i in range(count(form, OBSERVATION_ROWS)):
        at = f"observations[{i}]"
        said, value = _text(form, f"{at}.name"), _number(form, f"{at}.value")
        if not said and value is None and not _text(form, f"{at}.unit"):
            continue
        if not said:
            raise RowError(f"{at}.name", "required: the observation's name or LOINC code")
        if value is None:
            raise RowError(f"{at}.value", "required: the value measured")
        obs: dict[str, Any] = {"code" if LOINC_CODE.match(said) else "name": said, "value": value}
        if _text(form, f"{at}.unit"):
            obs["unit"] = _text(form, f"{at}.unit")
        date = _day(form, f"{at}.date", time=True)
        if date:
            obs["date"] = date
        out.append(obs)
    return out


def trials(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Each filled step-therapy row: the drug, how it ended, its dates, days and daily dose."""
    out = []
    for i in range(count(form, TRIAL_ROWS)):
        at = f"step_therapy[{i}]"
        drug = _text(form, f"{at}.drug")
        if not drug:
            if any(_text(form, f"{at}.{p}") for p in TRIAL_ROWS.parts if p != "outcome"):
                raise RowError(f"{at}.drug", "required: the drug that was tried")
            continue
        trial: dict[str, Any] = {"drug": drug}
        if _text(form, f"{at}.outcome") in OUTCOMES:
            trial["outcome"] = _text(form, f"{at}.outcome")
        for part in ("start", "end"):
            day = _day(form, f"{at}.{part}")
            if day:
                trial[part] = day
        days = _number(form, f"{at}.days", integer=True)
        if days is not None:
            trial["days"] = days
        dose = _number(form, f"{at}.daily_dose_mg")
        if dose is not None:
            trial["daily_dose_mg"] = dose
        out.append(trial)
    return out


def form_names() -> list[str]:
    """Every row input, for placing a contract error next to its field."""
    return [
        f"{rows.name}[{i}].{p}" for rows in ALL_ROWS for i in range(MAX_ROWS) for p in rows.parts
    ] + [rows.name for rows in ALL_ROWS]
