"""API keys: random, shown once, stored as SHA-256 hashes; each with a role and, for
submitters, the provider organization whose cases it may see; revoked by `priorauth keys
revoke`, which every worker honours within PRIORAUTH_KEY_CACHE_SECONDS (1 s).

Why a plain SHA-256 and not a salted, slow hash: a generated key is 24 random bytes (192 bits),
so there is nothing to guess from its hash and no table to precompute; salts and slow hashes
protect low-entropy secrets such as passwords. A key chosen by a person (the demo keys) has no
such protection, which is why the demo keys are for demos only."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.service.errors import ServiceError
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
    """A new key (returned once). Without a name, a random label (not part of the key: the name
    is shown in the audit log and in `decided_by`) tells holders apart in the audit log and in
    the rule that an appeal goes to a different reviewer."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "submitter" and not org:
        raise ValueError("a submitter key needs --org (the provider organization)")
    key = key or "pa_" + secrets.token_urlsafe(24)
    name = name or f"{role}{'@' + org if org else ''} key {secrets.token_hex(4)}"
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
    """The key's holder; None for an unknown or revoked key."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(name=row.name, role=row.role, org=row.org)


def find_key(session: Session, ref: str) -> ApiKey | None:
    """A key by its number (`priorauth keys list`), its exact name, or the key itself."""
    row = None
    if ref.isdigit():
        row = session.get(ApiKey, int(ref))
    if row is None:
        rows = session.scalars(select(ApiKey).where(ApiKey.name == ref)).all()
        if len(rows) > 1:
            raise ValueError(f"{len(rows)} keys are named {ref!r}: give the key's number")
        row = rows[0] if rows else None
    if row is None:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(ref)))
    return row


def revoke_key(session: Session, ref: str, at: dt.datetime | None = None) -> ApiKey:
    row = find_key(session, ref)
    if row is None:
        raise ValueError(f"no key {ref!r} (give its number, name, or the key)")
    if row.revoked_at is None:
        row.revoked_at = at or dt.datetime.now(dt.UTC)
    return row


class TooManyFailures(ServiceError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, "Authorization")
        self.headers = {"Retry-After": str(retry_after)}


class FailureThrottle:
    """Unknown keys from one client: after `limit` in `window` seconds, 429 without a database
    lookup until the window has passed (guessing keys costs the guesser, not the database)."""

    def __init__(self, limit: int = 20, window: float = 60.0, clients: int = 10_000) -> None:
        self.limit, self.window, self.clients = limit, window, clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        seen = self._failures.get(client)
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def check(self, client: str) -> None:
        if not self.limit:
            return
        now = time.monotonic()
        with self._lock:
            seen = self._recent(client, now)
            if seen is not None and len(seen) >= self.limit:
                wait = max(1, int(seen[0] + self.window - now) + 1)
                raise TooManyFailures(
                    f"{len(seen)} unknown API keys from this client within "
                    f"{int(self.window)} s; try again in {wait} s",
                    wait,
                )

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.clients:
                # Forget the clients with no recent failure before tracking a new one.
                for other in list(self._failures):
                    if not self._recent(other, now):
                        del self._failures[other]
                if len(self._failures) >= self.clients:
                    self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, deque()).append(now)
