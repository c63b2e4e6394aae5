"""What a worker remembers stays at a fixed size, whatever stream of distinct names it is sent:
free text has a length limit named in its error, and every cache and memo holds a fixed number
of length-bounded keys."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from priorauth import Engine, RequestError
from priorauth.engine.compiled import MEMO_BYTES, MEMO_ENTRIES, CompiledPlan
from priorauth.policy.tables import is_icd10cm_code, load_knowledge, normalize_alteration
from priorauth.request import TEXT_LIMIT, Request

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PEND = json.loads((EXAMPLES / "nsclc-initial-pend.json").read_text())


def _set(path: str) -> Callable[[dict[str, Any], str], None]:
    def put(body: dict[str, Any], text: str) -> None:
        if path == "medication.name":
            body["medication"]["name"] = text
        elif path == "prescriber.name":
            body["prescriber"] = {"name": text}
        elif path == "prescriber.specialty":
            body["prescriber"] = {"specialty": text}
        elif path == "diagnoses[0].histology":
            body["diagnoses"][0]["histology"] = text
        elif path.startswith("biomarkers[0]."):
            marker = {"gene": "KRAS", "result": "positive", "alteration": "G12C", "test": "x"}
            marker[path.rsplit(".", 1)[1]] = text
            body["biomarkers"] = [marker]
        elif path == "prior_therapies[0].drug":
            body["prior_therapies"][0]["drug"] = text
        elif path == "concurrent_therapies[0].drug":
            body["concurrent_therapies"] = [{"drug": text}]
        elif path == "step_therapy[0].drug":
            body["step_therapy"] = [{"drug": text, "outcome": "failure"}]
        elif path in ("answers", "attestations"):
            body[path] = {text: True}
        else:
            raise AssertionError(path)

    return put


FREE_TEXT = [
    "medication.name",
    "prescriber.name",
    "prescriber.specialty",
    "diagnoses[0].histology",
    "biomarkers[0].gene",
    "biomarkers[0].alteration",
    "biomarkers[0].test",
    "prior_therapies[0].drug",
    "concurrent_therapies[0].drug",
    "step_therapy[0].drug",
    "answers",
    "attestations",
]


@pytest.mark.parametrize("field", FREE_TEXT)
def test_free_text_longer_than_the_limit_is_refused_naming_the_field_and_the_limit(
    field: str,
) -> None:
    body = copy.deepcopy(PEND)
    _set(field)(body, "Lumakras " + "x" * 900_000)
    engine = Engine()
    for given in (body, json.dumps(body), json.dumps(body).encode()):
        with pytest.raises(RequestError) as err:
            engine.evaluate(given)
        expected = "at most 200 characters"
        if field in ("answers", "attestations"):
            expected = f"each key {expected}"
        assert str(err.value) == f"{field}: {expected}"


def test_text_at_the_limit_is_accepted() -> None:
    body = copy.deepcopy(PEND)
    body["prior_therapies"][0]["drug"] = "cisplatin" + " " * (TEXT_LIMIT - len("cisplatin"))
    assert Engine().evaluate(body).decision == "pended"


def test_the_json_schema_states_the_limits() -> None:
    schema = Request.model_json_schema()
    medication = schema["$defs"]["Medication"]["properties"]["name"]
    assert medication["maxLength"] == TEXT_LIMIT
    therapy = schema["$defs"]["Therapy"]["properties"]["drug"]
    assert therapy["maxLength"] == TEXT_LIMIT
    answers = schema["properties"]["answers"]["anyOf"][0]
    assert answers["propertyNames"]["maxLength"] == TEXT_LIMIT


def test_the_knowledge_caches_stay_at_their_fixed_size_under_distinct_names() -> None:
    kb = load_knowledge()
    before = kb.cache_sizes()
    # Names longer than any cache key: worked out, never kept.
    for i in range(3000):
        long = f"drug {i} " + "y" * 900
        assert kb.drug_info(long) is None
        kb.histology(long)
        kb.gene(long)
        normalize_alteration(long)
        assert not is_icd10cm_code(long)
    assert kb.cache_sizes() == before
    # Many more distinct names of the longest length the contract allows than a cache holds.
    for i in range(40_000):
        name = f"{i} " + "z" * (TEXT_LIMIT - 8)
        kb.drug_info(name)
        normalize_alteration(name)
    for name, (entries, most) in kb.cache_sizes().items():
        assert most > 0 and entries <= most, name
    assert kb.cache_sizes()["drug_info"][0] == kb.cache_sizes()["drug_info"][1]


def test_spellings_of_one_name_share_a_cache_entry() -> None:
    kb = load_knowledge()
    kb.drug_info("Cisplatin")
    entries = kb.cache_sizes()["drug_info"][0]
    for spelling in ("CISPLATIN", " cisplatin ", "cisplatin", "Cisplatin\t"):
        assert kb.drug_info(spelling) == kb.drug_info("Cisplatin")
    assert kb.cache_sizes()["drug_info"][0] == entries


def test_the_compiled_memos_stay_bounded_under_distinct_long_lists() -> None:
    engine = Engine()
    body = copy.deepcopy(PEND)
    for i in range(1500):
        body["prior_therapies"] = [
            {"drug": f"{i}-{j} " + "w" * (TEXT_LIMIT - 12)} for j in range(20)
        ]
        body["diagnoses"][0]["histology"] = f"{i} " + "h" * (TEXT_LIMIT - 6)
        # An unknown histology: not a listed indication.
        assert engine.evaluate(body).decision == "denied"
    plans: dict[int, CompiledPlan] = {id(d.compiled): d.compiled for d in engine._deciders.values()}
    sizes = [s for plan in plans.values() for s in plan.memo_sizes()]
    assert sizes
    for entries, held in sizes:
        assert entries <= MEMO_ENTRIES
        assert held <= MEMO_BYTES
    # 30,000 distinct names of about 250 bytes each, 1,500 lists of 6 KB: each memo was emptied
    # on reaching its bound rather than holding them all.
    assert max(held for _, held in sizes) > MEMO_BYTES // 2


def test_the_engine_keeps_no_long_medication_text_it_was_asked_about() -> None:
    # The FHIR adapters look a policy up by the medication text of a FHIR body (megabytes
    # allowed) before the request contract sees it.
    engine = Engine()
    for i in range(2000):
        assert engine.versions(f"sotorasib {i} " + "x" * 5000)
        engine.versions(f"sotorasib {i}")
    assert len(engine._versions_by_written) <= 4096
    assert max(len(name) for name in engine._versions_by_written) <= TEXT_LIMIT
