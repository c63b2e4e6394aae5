"""Who calls the FHIR API: the service's API keys as Bearer tokens, or SMART Backend Services
access tokens, issued by `POST /oauth/token` to registered clients for a client-credentials
grant with a JWT assertion signed by one of the client's keys (RFC 7523, SMART App Launch 2
"backend services"). Signatures are checked with joserfc."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Any

from fastapi import Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from priorauth.fhir.models import AssertionJti, OAuthClient, OAuthToken
from priorauth.fhir.outcome import FhirError
from priorauth.service.auth import ROLES, Principal
from priorauth.service.errors import ServiceError
from priorauth.service.workflow import Service

ANONYMOUS = Principal("anonymous", "-", None)
TOKEN_PREFIX = "smart_"
TOKEN_SECONDS = 300
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
"""What SMART Backend Services requires servers to support."""


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_from_header(service: Service, request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise FhirError(
            "send 'Authorization: Bearer TOKEN' (an API key or a SMART access token)",
            "Authorization",
            401,
            "login",
        )
    if token.startswith(TOKEN_PREFIX):
        return _token_principal(service, token)
    try:
        # Unknown keys are throttled per client, as on the JSON API (not all FHIR clients as one).
        return service.principal(token, request.client.host if request.client else "-")
    except ServiceError as exc:
        raise FhirError(exc.detail, "Authorization", 401, "login") from None


def _token_principal(service: Service, token: str) -> Principal:
    now = service.clock()
    with service.db.reading() as s:
        row = s.get(OAuthToken, _hash(token))
        client = s.get(OAuthClient, row.client_id) if row is not None else None
    if row is None or client is None:
        raise FhirError("unknown access token", "Authorization", 401, "login")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    if expires <= now:
        raise FhirError("the access token has expired", "Authorization", 401, "expired")
    return Principal(
        name=f"{client.name} (client {client.client_id})", role=client.role, org=client.org
    )


def register_client(
    service_db: Any, name: str, role: str, org: str | None, jwks: dict[str, Any]
) -> str:
    """A new client id for a system whose public keys are `jwks`."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "submitter" and not org:
        raise ValueError("a submitter client needs --org (the provider organization)")
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except Exception as exc:
        raise ValueError(f"not a JWK Set: {exc}") from None
    if not keys.keys:
        raise ValueError("the JWK Set has no keys")
    for key in keys.keys:
        if key.is_private:
            raise ValueError("the JWK Set holds a private key: register the public keys only")
    client_id = "client_" + secrets.token_urlsafe(12)
    with service_db.session() as s:
        s.add(
            OAuthClient(
                client_id=client_id,
                name=name,
                role=role,
                org=org,
                jwks=jwks,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return client_id


def issue_token(service: Service, form: dict[str, str], token_url: str) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion", "")
    if not assertion or assertion.count(".") != 2:
        raise OAuthError("invalid_request", "client_assertion: a signed JWT is required")
    scope = form.get("scope", "system/*.read system/*.write")
    if not re.fullmatch(r"[\x21-\x7e ]{1,1000}", scope):
        raise OAuthError("invalid_scope", "scope: printable ASCII, space separated")
    client_id = _peek_issuer(assertion)
    if not client_id:
        raise OAuthError("invalid_client", "the assertion names no client (iss)")
    with service.db.reading() as s:
        client = s.get(OAuthClient, client_id)
    if client is None:
        raise OAuthError("invalid_client", f"unknown client {client_id!r}")
    try:
        keys = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        token = jwt.decode(assertion, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise OAuthError(
            "invalid_client", f"the assertion's signature does not verify: {exc}"
        ) from None
    now = service.clock()
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=30,
        iss={"essential": True, "value": client_id},
        sub={"essential": True, "value": client_id},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OAuthError("invalid_client", f"assertion claims: {exc}") from None
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if token_url not in auds:
        raise OAuthError("invalid_client", f"aud must be this token endpoint ({token_url})")
    exp = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    if exp > now + dt.timedelta(minutes=5, seconds=30):
        raise OAuthError("invalid_client", "exp: an assertion may live five minutes at most")
    access_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with service.db.session() as s:
            s.execute(delete(AssertionJti).where(AssertionJti.expires_at < now))
            s.add(
                AssertionJti(
                    jti=f"{client_id}:{claims['jti']}"[:200], client_id=client_id, expires_at=exp
                )
            )
            s.add(
                OAuthToken(
                    token_hash=_hash(access_token),
                    client_id=client_id,
                    expires_at=now + dt.timedelta(seconds=TOKEN_SECONDS),
                )
            )
    except IntegrityError:
        raise OAuthError("invalid_client", "this assertion (jti) was used already") from None
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": scope,
    }


def _peek_issuer(assertion: str) -> str | None:
    """The `iss` of a JWT before its signature is checked: it says whose keys to check with."""
    try:
        payload = assertion.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except Exception:
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


def clients(service_db: Any) -> list[OAuthClient]:
    with service_db.reading() as s:
        return list(s.scalars(select(OAuthClient).order_by(OAuthClient.created_at)).all())
