"""Observations answered in a DTR QuestionnaireResponse: the form's observation items
(`observation.<LOINC code or table key>.value` and `.date`, prepopulate.observation_group) read
back as request observations, each part remembering the answer element that gave it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from priorauth.fhir.clinical import Found, known_observation, value_parts
from priorauth.fhir.outcome import FhirError

OBSERVATION_ITEM = re.compile(r"^observation\.(?P<key>.+)\.(?P<part>value|date)$")
_LOINC_CODE = re.compile(r"^\d{1,7}-\d$")


def _walk(items: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    for i, item in enumerate(items or []):
        if not isinstance(item, dict):
            continue
        at = f"{path}.item[{i}]"
        yield item, at
        yield from _walk(item.get("item"), at)
        for j, ans in enumerate(item.get("answer") or []):
            if isinstance(ans, dict):
                yield from _walk(ans.get("item"), f"{at}.answer[{j}]")


def response_observations(key: str, response: dict[str, Any], path: str) -> list[Found]:
    """The observations a QuestionnaireResponse gives in our observation items: a valueQuantity
    (or a number) answer to `observation.<code>.value`, dated by the answer to
    `observation.<code>.date`."""
    values: dict[str, tuple[dict[str, Any], str]] = {}
    dates: dict[str, tuple[str, str]] = {}
    for item, at in _walk(response.get("item"), path):
        m = OBSERVATION_ITEM.match(str(item.get("linkId") or ""))
        answers = [a for a in item.get("answer") or [] if isinstance(a, dict)]
        if m is None or not answers:
            continue
        ans, where = answers[0], f"{at}.answer[0]"
        if m["part"] == "date":
            text = ans.get("valueDate") or ans.get("valueDateTime")
            if isinstance(text, str):
                dates[m["key"]] = (
                    text,
                    f"{where}.{'valueDate' if 'valueDate' in ans else 'valueDateTime'}",
                )
        else:
            values[m["key"]] = (ans, where)
    out = []
    for obs_key, (ans, where) in values.items():
        found = _answer_value(ans, where)
        if found is None:
            continue
        value, unit, elements = found
        if value is None:
            raise FhirError(
                f"{key}: the answer to {obs_key!r} has a quantity without a value",
                elements["value"],
                code="required",
            )
        # The item's key names the observation (the item's text is a question, not a name).
        is_code = _LOINC_CODE.match(obs_key) is not None
        named = known_observation(obs_key if is_code else None, "" if is_code else obs_key)
        if named is None:
            continue
        obs: dict[str, Any] = {"value": value, "name": named[1]}
        if named[0]:
            obs["code"] = named[0]
        if unit:
            obs["unit"] = unit
        if obs_key in dates:
            obs["date"], elements["date"] = dates[obs_key]
        out.append(Found(obs, key, elements))
    return out


def _answer_value(
    ans: dict[str, Any], where: str
) -> tuple[float | None, str | None, dict[str, str]] | None:
    if isinstance(ans.get("valueQuantity"), dict):
        return value_parts(ans, where)
    for kind in ("valueDecimal", "valueInteger"):
        if isinstance(ans.get(kind), int | float) and not isinstance(ans.get(kind), bool):
            return float(ans[kind]), None, {"value": f"{where}.{kind}"}
    return None
