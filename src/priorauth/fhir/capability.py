"""The CapabilityStatement (`GET /fhir/metadata`) and the SMART configuration."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

PAS_OPS = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition"
SDC_OPS = "http://hl7.org/fhir/uv/sdc/OperationDefinition"
DTR_OPS = "http://hl7.org/fhir/us/davinci-dtr/OperationDefinition"
PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"


def capability_statement(base: str) -> dict[str, Any]:
    cs = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-29",
        "kind": "instance",
        "software": {"name": "priorauth", "version": "0.1.0"},
        "implementation": {
            "description": "priorauth: prior authorization decided from policies kept as data",
            "url": f"{base}/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "instantiates": [
            "http://hl7.org/fhir/us/davinci-pas/CapabilityStatement/pas-server",
            "http://hl7.org/fhir/us/davinci-dtr/CapabilityStatement/light-dtr-payer",
        ],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "Bearer tokens: the service's API keys, or SMART Backend "
                    f"Services access tokens from {base}/oauth/token",
                },
                "resource": [
                    {
                        "type": "Claim",
                        "operation": [
                            {"name": "submit", "definition": f"{PAS_OPS}/Claim-submit"},
                            {"name": "inquire", "definition": f"{PAS_OPS}/Claim-inquiry"},
                        ],
                    },
                    {"type": "ClaimResponse", "interaction": [{"code": "read"}]},
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}],
                        "operation": [
                            {
                                "name": "questionnaire-package",
                                "definition": f"{DTR_OPS}/questionnaire-package",
                            },
                            {
                                "name": "next-question",
                                "definition": f"{SDC_OPS}/Questionnaire-next-question",
                            },
                        ],
                    },
                    {
                        "type": "Subscription",
                        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}],
                        "operation": [
                            {
                                "name": "status",
                                "definition": "http://hl7.org/fhir/uv/subscriptions-backport/"
                                "OperationDefinition/backport-subscription-status",
                            }
                        ],
                    },
                ],
            }
        ],
    }
    return CapabilityStatement.model_validate(cs).model_dump(mode="json", exclude_none=True)


def smart_configuration(base: str) -> dict[str, Any]:
    return {
        "token_endpoint": f"{base}/oauth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/Claim.write"],
        "capabilities": ["client-confidential-asymmetric"],
    }
