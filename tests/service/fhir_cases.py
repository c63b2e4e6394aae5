"""Lumakras cases written twice: as a PAS request Bundle (FHIR R4, Genomics Reporting variant
Observations, a DTR QuestionnaireResponse) and as the JSON request the same chart means.

A case is a small dict; `pas_bundle(case)` and `json_request(case)` render it. The JSON side
is written by hand from the contract, not produced by the mapping, so the two routes check
each other.
"""

from __future__ import annotations

import copy
import json
from typing import Any

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"

BASE: dict[str, Any] = {
    "claim_id": "LUM-0001",
    "member": "M-2001",
    "birth": "1958-07-21",
    "service_date": "2026-06-15",
    "strength": 320,
    "quantity": 90,
    "days": 30,
    "dx": [
        {
            "code": "C34.11",
            "text": "Adenocarcinoma of right upper lobe of lung",
            "stage": "Stage IV, metastatic",
        }
    ],
    "kras": {"present": True, "change": "p.Gly12Cys", "test": "therascreen KRAS RGQ PCR Kit"},
    "prior": ["carboplatin", "pemetrexed"],
    "concurrent": None,  # None: the chart lists no active therapy
    "answers": {"initial.liver_function_monitoring": True, "initial.nsclc.single_agent": True},
}


def case(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    out.update(changes)
    return out


CASES: dict[str, dict[str, Any]] = {
    "approve": case(),
    "partial": case(claim_id="LUM-0002", strength=320, quantity=120),
    "pend": case(claim_id="LUM-0003", kras=None, answers={}),
    "deny_criteria": case(
        claim_id="LUM-0004",
        kras={"present": False, "change": "p.Gly12Cys", "test": "therascreen KRAS RGQ PCR Kit"},
    ),
    "investigational": case(
        claim_id="LUM-0005",
        dx=[{"code": "C43.9", "text": "Malignant melanoma of skin", "stage": "metastatic"}],
    ),
    "crc": case(
        claim_id="LUM-0006",
        dx=[{"code": "C18.7", "text": "Adenocarcinoma of sigmoid colon", "stage": "Stage IV"}],
        prior=["FOLFOX", "FOLFIRI"],
        concurrent=["panitumumab"],
        answers={"initial.liver_function_monitoring": True},
    ),
}


def json_request(c: dict[str, Any]) -> dict[str, Any]:
    req: dict[str, Any] = {
        "kind": "initial",
        "date_of_service": c["service_date"],
        "urgency": "standard",
        "member": {"id": c["member"], "birth_date": c["birth"]},
        "prescriber": {"npi": "1245319599", "name": "Ann Oncologist"},
        "medication": {
            "name": f"sotorasib {c['strength']} MG Oral Tablet",
            "strength_mg": c["strength"],
            "quantity": c["quantity"],
            "days_supply": c["days"],
        },
    }
    dx = []
    for d in c["dx"]:
        item: dict[str, Any] = {"code": d["code"]}
        low = d["text"].lower()
        for word, key in (("adenocarcinoma", "adenocarcinoma"), ("melanoma", "melanoma")):
            if word in low:
                item["histology"] = key
        stage = d["stage"].lower()
        if "metasta" in stage or "stage iv" in stage:
            item["extent"] = "metastatic"
        dx.append(item)
    req["diagnoses"] = dx
    if c["kras"] is not None:
        k = c["kras"]
        req["biomarkers"] = [
            {
                "gene": "KRAS",
                "alteration": k["change"],
                "result": "positive" if k["present"] else "negative",
                "test": k["test"],
            }
        ]
    if c["prior"] is not None:
        req["prior_therapies"] = [{"drug": d} for d in c["prior"]]
    if c["concurrent"] is not None:
        req["concurrent_therapies"] = [{"drug": d} for d in c["concurrent"]]
    if c["answers"]:
        req["answers"] = dict(c["answers"])
    return req


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"http://example.org/fhir/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
    }


def resources(c: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart: Patient, Coverage, practitioner, order, conditions, results, therapies, QR."""
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": "pat-1",
            "birthDate": c["birth"],
            "name": [{"family": "Example", "given": ["Pat"]}],
        },
        {
            "resourceType": "Coverage",
            "id": "cov-1",
            "status": "active",
            "subscriberId": c["member"],
            "beneficiary": {"reference": "Patient/pat-1"},
            "payor": [{"reference": "Organization/payer-1"}],
        },
        {"resourceType": "Organization", "id": "payer-1", "name": "Example Health Plan"},
        {"resourceType": "Organization", "id": "clinic-1", "name": "Demo Oncology Clinic"},
        {
            "resourceType": "Practitioner",
            "id": "dr-1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}],
            "name": [{"text": "Ann Oncologist"}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": "order-1",
            "status": "active",
            "intent": "order",
            # Named as RxNorm names the clinical drug (no RxCUI: we do not make codes up).
            "medicationCodeableConcept": {"text": f"sotorasib {c['strength']} MG Oral Tablet"},
            "subject": {"reference": "Patient/pat-1"},
            "authoredOn": c["service_date"],
            "requester": {"reference": "Practitioner/dr-1"},
            "dosageInstruction": [
                {
                    "text": "by mouth once daily",
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                }
            ],
            "dispenseRequest": {
                "quantity": {"value": c["quantity"], "unit": "tablet"},
                "expectedSupplyDuration": {
                    "value": c["days"],
                    "unit": "days",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                },
            },
        },
    ]
    for i, d in enumerate(c["dx"]):
        out.append(
            {
                "resourceType": "Condition",
                "id": f"dx-{i + 1}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {"coding": [{"system": ICD10, "code": d["code"]}], "text": d["text"]},
                "stage": [{"summary": {"text": d["stage"]}}],
                "subject": {"reference": "Patient/pat-1"},
            }
        )
    if c["kras"] is not None:
        k = c["kras"]
        out.append(
            {
                "resourceType": "Observation",
                "id": "kras-1",
                "status": "final",
                "code": {
                    "coding": [
                        {
                            "system": LOINC,
                            "code": "69548-6",
                            "display": "Genetic variant assessment",
                        }
                    ]
                },
                "subject": {"reference": "Patient/pat-1"},
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": LOINC,
                            "code": "LA9633-4" if k["present"] else "LA9634-2",
                            "display": "Present" if k["present"] else "Absent",
                        }
                    ]
                },
                "method": {"text": k["test"]},
                "component": [
                    {
                        "code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://www.genenames.org/geneId",
                                    "code": "HGNC:6407",
                                    "display": "KRAS",
                                }
                            ]
                        },
                    },
                    {
                        "code": {"coding": [{"system": LOINC, "code": "48005-3"}]},
                        "valueCodeableConcept": {
                            "coding": [{"system": "http://varnomen.hgvs.org", "code": k["change"]}]
                        },
                    },
                ],
            }
        )
    for i, drug in enumerate(c["prior"] or []):
        out.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"prior-{i + 1}",
                "status": "completed",
                "medicationCodeableConcept": {"text": drug},
                "subject": {"reference": "Patient/pat-1"},
                "effectivePeriod": {"start": "2025-09-01", "end": "2026-03-01"},
            }
        )
    for i, drug in enumerate(c["concurrent"] or []):
        out.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"current-{i + 1}",
                "status": "active",
                "medicationCodeableConcept": {"text": drug},
                "subject": {"reference": "Patient/pat-1"},
                "effectivePeriod": {"start": "2026-06-01"},
            }
        )
    if c["answers"]:
        out.append(questionnaire_response(c["answers"]))
    return out


def questionnaire_response(answers: dict[str, bool], qid: str = "qr-1") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "status": "completed",
        "questionnaire": "http://testserver/fhir/Questionnaire/pa-5.21.177-2026-04-01-initial",
        "subject": {"reference": "Patient/pat-1"},
        "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in answers.items()],
    }


def pas_claim(claim_id: str, service_date: str, product: str) -> dict[str, Any]:
    """The PAS Claim for the chart's order (MedicationRequest/order-1 of Patient/pat-1)."""
    return {
        "resourceType": "Claim",
        "id": "claim-1",
        "identifier": [{"system": "http://example.org/clinic/claims", "value": claim_id}],
        "status": "active",
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}
            ]
        },
        "use": "preauthorization",
        "patient": {"reference": "Patient/pat-1"},
        "created": f"{service_date}T09:00:00Z",
        "insurer": {"reference": "Organization/payer-1"},
        "provider": {"reference": "Organization/clinic-1"},
        "priority": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                    "code": "normal",
                }
            ]
        },
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}],
        "item": [
            {
                "sequence": 1,
                "extension": [
                    {
                        "url": f"{PAS}/extension-requestedService",
                        "valueReference": {"reference": "MedicationRequest/order-1"},
                    }
                ],
                "productOrService": {"text": product},
                "servicedDate": service_date,
            }
        ],
    }


def pas_bundle(c: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    chart = resources(c) + (extra or [])
    claim = pas_claim(c["claim_id"], c["service_date"], f"sotorasib {c['strength']} MG Oral Tablet")
    return {
        "resourceType": "Bundle",
        "id": f"pas-{c['claim_id']}",
        "type": "collection",
        "timestamp": f"{c['service_date']}T09:00:00Z",
        "entry": [_entry(claim)] + [_entry(r) for r in chart],
    }


class Loopback:
    """A small HTTP server on 127.0.0.1 for the tests: a subscriber's rest-hook endpoint or an
    EHR's FHIR server. `routes` maps a path (with query) to a JSON body; POSTs are recorded;
    `fail_first` answers the first N POSTs with 500."""

    def __init__(self, routes: dict[str, Any] | None = None, fail_first: int = 0) -> None:
        import http.server
        import threading

        self.routes = routes or {}
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, dict(self.headers)))
                if self.path in outer.routes:
                    self._send(200, outer.routes[self.path])
                else:
                    self._send(404, {"resourceType": "OperationOutcome", "issue": []})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(("POST", self.path, dict(self.headers)))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self._send(500, {})
                    return
                outer.received.append(body)
                self._send(200, {})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
