"""People who sign in to the workbench with a username and password, and sign-in sessions.

Passwords are stored as Argon2id hashes (argon2-cffi, the algorithm OWASP recommends first);
a session is a random token of which only the SHA-256 is stored, so a copy of the database
gives no way in. A session remembers where its principal came from (a user or an API key) and
the principal is looked up again on every page, so a removed user or key stops working at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from priorauth.service.auth import ROLES, Principal
from priorauth.service.models import ApiKey, Base

SESSION_HOURS = 12  # a working day; signing in again the next morning is expected
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_expires", "expires_at"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    key_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    org: str | None,
    name: str | None = None,
) -> User:

    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise ValueError("username: 1 to 64 characters, no spaces")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "submitter" and not org:
        raise ValueError("a submitter needs --org (the provider organization)")
    if len(password) < 12:
        raise ValueError("password: at least 12 characters")
    name = (name or username).strip()
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"username {username!r} is taken")
    taken = session.scalar(select(User).where(User.name == name)) or session.scalar(
        select(ApiKey).where(ApiKey.name == name)
    )
    if taken is not None:
        # The name is the actor in the audit log and tells reviewers apart for appeals.
        raise ValueError(f"name {name!r} is already someone's; give another with --name")
    user = User(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        org=org,
        name=name,
        created_at=dt.datetime.now(dt.UTC),
    )
    session.add(user)
    session.flush()
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The user, when the password is right; None otherwise (in the same time either way)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _live(key: ApiKey | None) -> bool:
    # A revoked key (once keys carry revoked_at) signs no one in and ends its sessions.
    return key is not None and getattr(key, "revoked_at", None) is None


def key_hash_for(session: Session, key: str) -> str | None:
    """The stored hash of an API key that exists and is not revoked, else None."""
    h = _sha256(key)
    return h if _live(session.scalar(select(ApiKey).where(ApiKey.key_hash == h))) else None


def open_session(
    session: Session, now: dt.datetime, user_id: int | None = None, key_hash: str | None = None
) -> tuple[str, str]:
    """A new sign-in session: (token for the cookie, CSRF token for the forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(
        WebSession(
            token_hash=_sha256(token),
            csrf=csrf,
            user_id=user_id,
            key_hash=key_hash,
            created_at=now,
            expires_at=now + dt.timedelta(hours=SESSION_HOURS),
        )
    )
    return token, csrf


def session_principal(
    session: Session, token: str, now: dt.datetime
) -> tuple[Principal, str] | None:
    """(who, CSRF token) for a live session token, else None."""

    row = session.get(WebSession, _sha256(token))
    if row is None or _utc(row.expires_at) <= now:
        return None
    if row.user_id is not None:
        user = session.get(User, row.user_id)
        if user is None:
            return None
        return Principal(name=user.name, role=user.role, org=user.org), row.csrf
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == row.key_hash))
    if key is None or not _live(key):
        return None
    return Principal(name=key.name, role=key.role, org=key.org), row.csrf


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _sha256(token)))
