"""The FHIR API: the base (metadata, errors), PAS Claim/$submit and $inquire on Lumakras
bundles for every decision path, the same determinations as the JSON route, retries, bad
bundles, provenance in the trace, access. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_cases import CASES, case, json_request, pas_bundle
from service_support import ADMIN, OTHER_CLINIC, REVIEWER, SUBMITTER
from shared_folder import shared

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}


def davinci(name: str) -> Path:
    """A public Da Vinci example payload from ../shared/research/davinci."""
    return shared(f"research/davinci/{name}")


def submit(client: TestClient, bundle: Any, headers: dict[str, str] = FHIR) -> Any:
    body = bundle if isinstance(bundle, bytes | str) else json.dumps(bundle)
    return client.post("/fhir/Claim/$submit", content=body, headers=headers)


def claim_response(r: Any) -> dict[str, Any]:
    """The response Bundle's ClaimResponse, after checking both with the FHIR models."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    Bundle.model_validate(body)
    cr: dict[str, Any] = body["entry"][0]["resource"]
    ClaimResponse.model_validate(cr)
    return cr


def review_code(cr: dict[str, Any], item: int = 0) -> str:
    adjudication = cr["item"][item]["adjudication"][0]
    action = adjudication["extension"][0]
    code = next(e for e in action["extension"] if e["url"].endswith("reviewActionCode"))
    return str(code["valueCodeableConcept"]["coding"][0]["code"])


def outcome_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    OperationOutcome.model_validate(body)
    issue: dict[str, Any] = body["issue"][0]
    return issue


def test_metadata_is_a_capability_statement_listing_the_operations(client: TestClient) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = CapabilityStatement.model_validate(r.json())
    ops = {op.name for res in cs.rest[0].resource for op in res.operation or []}
    assert {"submit", "inquire", "questionnaire-package", "next-question"} <= ops


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("approve", "A1", "approved"),
        ("partial", "A6", "partially_approved"),
        ("pend", "A4", "pended"),
        ("deny_criteria", "A4", "in_review"),
        ("investigational", "A4", "in_review"),
        ("crc", "A1", "approved"),
    ],
)
def test_each_decision_path_answers_its_review_action_and_matches_the_json_route(
    client: TestClient, name: str, code: str, status: str
) -> None:
    c = CASES[name]
    cr = claim_response(submit(client, pas_bundle(c)))
    assert review_code(cr) == code
    # The same chart as JSON, from another organization (a separate case), decides alike.
    j = client.post("/cases", json=json_request(c), headers=OTHER_CLINIC)
    assert j.status_code == 201, j.text
    json_case = j.json()
    assert json_case["status"] == status
    cases = client.get("/cases", headers=SUBMITTER).json()
    assert len(cases) == 1
    fhir_det, json_det = cases[0]["determination"], json_case["determination"]
    for key in ("decision", "denial_basis", "authorization", "requested_daily_dose_mg"):
        assert fhir_det[key] == json_det[key], key
    assert [q["id"] for q in fhir_det["missing"]] == [q["id"] for q in json_det["missing"]]
    if code in ("A1", "A6"):
        assert cr["preAuthRef"] == cases[0]["id"]
        assert cr["preAuthPeriod"] == {"start": "2026-06-15", "end": "2027-06-14"}
        assert cr["outcome"] == "complete"
    else:
        assert "preAuthRef" not in cr
        assert cr["outcome"] == "queued"


def test_the_reasons_are_in_the_policy_words(client: TestClient) -> None:
    cr = claim_response(submit(client, pas_bundle(CASES["pend"])))
    notes = [n["text"] for n in cr["processNote"]]
    assert any(
        "Presence of KRAS G12C mutation as determined by an FDA-approved test" in n for n in notes
    )
    assert any(n.startswith("Question initial.nsclc.kras_g12c:") for n in notes)


def test_a_retry_finds_the_same_case(client: TestClient) -> None:
    bundle = pas_bundle(CASES["approve"])
    first = claim_response(submit(client, bundle))
    again = claim_response(submit(client, bundle))
    assert first["preAuthRef"] == again["preAuthRef"]
    assert len(client.get("/cases", headers=SUBMITTER).json()) == 1


def test_a_pend_becomes_a1_when_the_questionnaire_answers_come_with_the_claim(
    client: TestClient,
) -> None:
    c = CASES["pend"]
    cr = claim_response(submit(client, pas_bundle(c)))
    assert review_code(cr) == "A4"
    answered = case(
        claim_id=c["claim_id"],
        kras=None,
        answers={
            "initial.nsclc.kras_g12c": True,
            "initial.nsclc.single_agent": True,
            "initial.liver_function_monitoring": True,
        },
    )
    cr = claim_response(submit(client, pas_bundle(answered)))
    assert review_code(cr) == "A1"
    assert cr["preAuthRef"]
    inquiry = client.post("/fhir/Claim/$inquire", json=pas_bundle(answered), headers=FHIR)
    assert review_code(claim_response(inquiry)) == "A1"


def test_inquire_reports_a_pharmacist_s_denial_as_a3(client: TestClient) -> None:
    bundle = pas_bundle(CASES["deny_criteria"])
    assert review_code(claim_response(submit(client, bundle))) == "A4"
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "confirm_denial", "reason": "KRAS G12C absent"},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    cr = claim_response(client.post("/fhir/Claim/$inquire", json=bundle, headers=FHIR))
    assert review_code(cr) == "A3"
    # Inquiries are audited like the JSON API's reads.
    actions = [e["action"] for e in client.get(f"/cases/{case_id}/history", headers=ADMIN).json()]
    assert "read" in actions


def test_another_organization_cannot_inquire(client: TestClient) -> None:
    bundle = pas_bundle(CASES["approve"])
    claim_response(submit(client, bundle))
    other = {**OTHER_CLINIC, "Content-Type": "application/fhir+json"}
    issue = outcome_of(client.post("/fhir/Claim/$inquire", json=bundle, headers=other), 404)
    assert issue["code"] == "not-found"


def test_the_trace_names_the_resource_of_each_fact(client: TestClient) -> None:
    claim_response(submit(client, pas_bundle(CASES["approve"])))
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    r = client.get(f"/fhir/Claim/{case_id}/$trace", headers=SUBMITTER)
    assert r.status_code == 200
    sources: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        for fact in node["facts"]:
            sources.update(fact.get("fhir_source", "").split(", "))
        for child in node["children"]:
            walk(child)

    walk(r.json())
    assert {"Observation/kras-1", "Condition/dx-1", "Patient/pat-1"} <= sources


def test_without_a_token_the_answer_is_401_operation_outcome(client: TestClient) -> None:
    r = client.post("/fhir/Claim/$submit", json=pas_bundle(CASES["approve"]))
    issue = outcome_of(r, 401)
    assert issue["code"] == "login"


def _without(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    out["entry"] = [e for e in out["entry"] if e["resource"]["resourceType"] != rtype]
    return out


def _bad_bundles() -> list[tuple[str, Any, int, str]]:
    good = pas_bundle(CASES["approve"])
    no_items = copy.deepcopy(good)
    no_items["entry"][0]["resource"]["item"] = []
    unknown_patient = copy.deepcopy(good)
    unknown_patient["entry"][0]["resource"]["patient"] = {"reference": "Patient/nobody"}
    wrong_use = copy.deepcopy(good)
    wrong_use["entry"][0]["resource"]["use"] = "claim"
    no_birth = copy.deepcopy(good)
    for e in no_birth["entry"]:
        e["resource"].pop("birthDate", None)
    no_quantity = copy.deepcopy(good)
    for e in no_quantity["entry"]:
        if e["resource"]["resourceType"] == "MedicationRequest":
            e["resource"]["dispenseRequest"].pop("quantity")
            e["resource"]["dosageInstruction"] = []
    bad_code = copy.deepcopy(good)
    for e in bad_code["entry"]:
        if e["resource"]["resourceType"] == "Condition":
            e["resource"]["code"]["coding"][0]["code"] = "not a code"
    patient_path = next(
        i for i, e in enumerate(good["entry"]) if e["resource"]["resourceType"] == "Patient"
    )
    return [
        ("no Claim", _without(good, "Claim"), 422, "Bundle.entry"),
        ("no items", no_items, 422, "Bundle.entry[0].resource.item"),
        ("unknown patient", unknown_patient, 422, "Bundle.entry[0].resource.patient"),
        ("wrong resourceType", {"resourceType": "Patient", "id": "x"}, 422, "Bundle.resourceType"),
        ("not preauthorization", wrong_use, 422, "Bundle.entry[0].resource.use"),
        ("no birth date", no_birth, 422, f"Bundle.entry[{patient_path}].resource.birthDate"),
        ("no quantity", no_quantity, 422, "dispenseRequest.quantity"),
        ("ICD-10 code", bad_code, 422, "resource"),
        ("not JSON", b"{not json", 400, ""),
        ("a list", b"[]", 400, ""),
        ("empty", b"", 400, ""),
        (
            "5 MB",
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {
                            "resource": {
                                "resourceType": "Basic",
                                "id": "x",
                                "code": {"text": "x" * 5_000_000},
                            }
                        }
                    ],
                }
            ),
            413,
            "",
        ),
    ]


@pytest.mark.parametrize(("label", "body", "status", "where"), _bad_bundles())
def test_bad_bundles_get_a_precise_operation_outcome(
    client: TestClient, label: str, body: Any, status: int, where: str
) -> None:
    issue = outcome_of(submit(client, body), status)
    assert issue["diagnostics"]
    if where:
        assert any(where in e for e in issue.get("expression", [])), issue
    assert client.get("/cases", headers=SUBMITTER).json() == []  # nothing half-written


def test_the_older_reference_bundle_gets_a_precise_operation_outcome(client: TestClient) -> None:
    raw = davinci("HL7-DaVinci_prior-auth__src_test_resources__bundle-prior-auth.json")
    issue = outcome_of(submit(client, raw.read_bytes()), 422)
    assert issue["expression"] == ["Bundle.entry[1].resource.insurance"]
    assert "list" in issue["diagnostics"]


def test_the_pas_test_kit_request_gets_a_valid_claim_response(client: TestClient) -> None:
    name = (
        "inferno_davinci-pas-test-kit__config_presets__pas_server_v221_run_against_pas_"
        "client__approval_pa_submit_request_payload.json"
    )
    cr = claim_response(submit(client, davinci(name).read_bytes()))
    # A referral (ServiceRequest) is under none of our drug policies.
    assert review_code(cr) == "NA"
    assert cr["identifier"][0]["value"] == "111099"
    assert client.get("/cases", headers=SUBMITTER).json() == []


@pytest.mark.parametrize(
    "name",
    [
        "inferno_davinci-pas-test-kit__config_presets__pas_client_v221_run_against_pas_server__"
        "pended_json_response.json",
        "inferno_davinci-pas-test-kit__config_presets__pas_client_v221_run_against_pas_server__"
        "denial_json_response.json",
        "inferno_davinci-pas-test-kit__spec_fixtures__valid_pa_response_bundle.json",
        "inferno_davinci-pas-test-kit__spec_fixtures__PAS_notification_example_full_resource.json",
    ],
)
def test_response_bundles_sent_as_requests_say_there_is_no_claim(
    client: TestClient, name: str
) -> None:
    raw = davinci(name).read_bytes()
    Bundle.model_validate_json(raw)  # they are valid Bundles
    issue = outcome_of(submit(client, raw), 422)
    assert issue["expression"] == ["Bundle.entry"]


def test_xml_is_refused_with_415(client: TestClient) -> None:
    r = client.post(
        "/fhir/Claim/$submit",
        content=b"<Bundle/>",
        headers={**SUBMITTER, "Content-Type": "application/fhir+xml"},
    )
    outcome_of(r, 415)


EXAMPLES_FHIR = Path(__file__).resolve().parents[2] / "examples" / "fhir"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("pas-approve", "A1"),
        ("pas-partial", "A6"),
        ("pas-pend", "A4"),
        ("pas-deny", "A4"),
        ("pas-investigational", "A4"),
    ],
)
def test_the_documented_examples_get_the_documented_answers(
    client: TestClient, name: str, code: str
) -> None:
    raw = (EXAMPLES_FHIR / f"{name}.json").read_bytes()
    assert review_code(claim_response(submit(client, raw))) == code
    if name == "pas-pend":
        answered = (EXAMPLES_FHIR / "pas-pend-answered.json").read_bytes()
        assert review_code(claim_response(submit(client, answered))) == "A1"


def test_every_example_named_in_the_docs_exists() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text()
    for name in set(re.findall(r"examples/fhir/([\w.-]+\.json)", docs)):
        assert (EXAMPLES_FHIR / name).exists(), name
    davinci_folder = shared("research/davinci")
    for name in set(re.findall(r"research/davinci/([\w.-]+\.json)", docs)):
        assert (davinci_folder / name).exists(), name


def test_a_pharmacist_s_overturn_is_a1_with_the_authorization_on_file(client: TestClient) -> None:
    bundle = pas_bundle(CASES["deny_criteria"])
    claim_response(submit(client, bundle))
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "overturn", "reason": "the test report shows G12C after all"},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    cr = claim_response(client.post("/fhir/Claim/$inquire", json=bundle, headers=FHIR))
    assert review_code(cr) == "A1"
    assert cr["preAuthRef"] == case_id
    assert cr["preAuthPeriod"] == {"start": "2026-06-15", "end": "2027-06-14"}
    r = client.get(f"/fhir/ClaimResponse/{case_id}", headers=SUBMITTER)
    assert r.status_code == 200 and review_code(r.json()) == "A1"


def _doc_curls() -> list[list[str]]:
    """The curl commands of docs/fhir.md's 'Try it' block, as argument lists."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text()
    block = re.search(r"## Try it.*?```sh\n(.*?)```", docs, flags=re.S)
    assert block is not None
    text = block.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.startswith("curl ")]


def test_the_docs_curl_commands_answer_as_documented(client: TestClient) -> None:
    import os

    env = {
        "K": "Authorization: Bearer demo-submitter-key",
        "T": "Content-Type: application/fhir+json",
    }
    root = Path(__file__).resolve().parents[2]
    # Those sending a Da Vinci example from ../shared last (each stands alone): in a clone
    # without it, every other command is still checked before the test skips.
    commands = sorted(_doc_curls(), key=lambda args: any("@../shared/" in a for a in args))
    assert len(commands) >= 8
    for args in commands:
        method, url, headers, data = "GET", "", {}, None
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-X":
                method, i = args[i + 1], i + 1
            elif a == "-H":
                h = args[i + 1].replace("$K", env["K"]).replace("$T", env["T"])
                name, _, value = h.partition(": ")
                headers[name] = value
                i += 1
            elif a == "-d":
                source = args[i + 1].removeprefix("@")
                if source.startswith("../shared/"):
                    data = shared(source.removeprefix("../shared/")).read_bytes()
                else:
                    data = (root / source).read_bytes()
                i += 1
            elif a.startswith("$B"):
                url = a.removeprefix("$B").replace("\\$", "$")
            i += 1
        assert url, args
        r = client.request(method, url, content=data, headers=headers)
        assert r.status_code in (200, 201), (args, r.text[:300])
    assert os.path.exists(root / "scripts" / "fhir_receiver.py")


def test_a_renewal_claim_builds_on_the_authorization_on_file(client: TestClient) -> None:
    claim_response(submit(client, pas_bundle(CASES["approve"])))
    renewal = case(
        claim_id="LUM-RENEW",
        service_date="2027-06-10",
        answers={"renewal.no_progression": True, "renewal.liver_function_monitoring": True},
    )
    bundle = pas_bundle(renewal)
    bundle["entry"][0]["resource"]["item"][0]["extension"].append(
        {
            "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
            "extension-certificationType",
            "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "R"}]
            },
        }
    )
    cr = claim_response(submit(client, bundle))
    assert review_code(cr) == "A1"
    # Both cases are received at the test clock's one instant: find the renewal by its kind,
    # not by its place in the list (ties are ordered by id).
    cases = client.get("/cases", headers=SUBMITTER).json()
    assert sorted(c["kind"] for c in cases) == ["initial", "renewal"]
    newest = next(c for c in cases if c["kind"] == "renewal")
    assert newest["previous_authorization_id"] is not None
    assert newest["determination"]["policy"]["requirements"] == "renewal"
    assert cr["preAuthPeriod"]["start"] == "2027-06-10"
