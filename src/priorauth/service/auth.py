"""API keys: random, shown once, stored as SHA-256 hashes; each with a role and, for
submitters, the provider organization whose cases it may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.service.models import ApiKey

ROLES = ("submitter", "reviewer", "admin")

# Documented in the README for `make run`; created only when PRIORAUTH_DEMO_KEYS is set.
DEMO_KEYS = {
    "demo-submitter-key": ("submitter", "demo-clinic", "Demo Oncology Clinic"),
    "demo-other-clinic-key": ("submitter", "other-clinic", "Another clinic"),
    "demo-reviewer-key": ("reviewer", None, "Pharmacist A"),
    "demo-reviewer2-key": ("reviewer", None, "Pharmacist B"),
    "demo-admin-key": ("admin", None, "Administrator"),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (the actor in the audit log), role and organization."""

    name: str
    role: str
    org: str | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, role: str, org: str | None, name: str | None, key: str | None = None
) -> str:
    """A new key (returned once). Without a name, the key's prefix tells holders apart in the
    audit log and in the rule that an appeal goes to a different reviewer."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "submitter" and not org:
        raise ValueError("a submitter key needs --org (the provider organization)")
    key = key or "pa_" + secrets.token_urlsafe(24)
    name = name or f"{role}{'@' + org if org else ''} ({key[:8]})"
    session.add(
        ApiKey(
            key_hash=hash_key(key),
            prefix=key[:8],
            role=role,
            org=org,
            name=name,
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    return key


def ensure_demo_keys(session: Session) -> None:
    for key, (role, org, name) in DEMO_KEYS.items():
        if session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))) is None:
            create_key(session, role, org, name, key)


def principal_for(session: Session, key: str) -> Principal | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None:
        return None
    return Principal(name=row.name, role=row.role, org=row.org)
