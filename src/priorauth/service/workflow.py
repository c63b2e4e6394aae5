"""The case workflow: submissions, pends and their answers, reviews, appeals, withdrawals,
expiry of unanswered pends. Every change of state is one transaction with its audit event."""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from priorauth.determination import jsonable
from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError, RequestError
from priorauth.request import Request, parse_request
from priorauth.service import explain, paging
from priorauth.service.audit import listing_reads, record_listing, record_reads
from priorauth.service.auth import FailureThrottle, Principal, hash_key
from priorauth.service.config import Settings
from priorauth.service.db import Database
from priorauth.service.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, printable
from priorauth.service.goldcard import GoldCards, gold_card_reason
from priorauth.service.goldcard_models import GoldCard
from priorauth.service.models import ApiKey, Authorization, Case, Event
from priorauth.service.paging import Page
from priorauth.service.problems import validation_errors
from priorauth.service.realtime import real_time

APPROVED = ("approved", "partially_approved")
OPEN = ("pended", "in_review", "in_appeal")
QUEUED = ("in_review", "in_appeal")
STATUSES = (
    "pended",
    "in_review",
    "approved",
    "partially_approved",
    "denied",
    "in_appeal",
    "withdrawn",
)
Clock = Callable[[], dt.datetime]

# Request fields that additional information may bring; lists replace, mappings merge.
INFO_FIELDS = (
    "diagnoses",
    "biomarkers",
    "prior_therapies",
    "concurrent_therapies",
    "attestations",
    "disease_status",
    "answers",
    # A pend may ask for a measurement ("the BMI and the date it was measured") or a trial.
    "observations",
    "step_therapy",
)


def request_invalid(body: Any, exc: RequestError) -> Invalid:
    """The first problem as the contract words it, and every other one the request has (the
    fast parser stops at the first; this runs only for a request already found bad)."""
    first = {"field": exc.field, "detail": str(exc)}
    errors = [first]
    try:
        if isinstance(body, str | bytes | bytearray):
            Request.model_validate_json(body)
        else:
            Request.model_validate(body)
    except ValidationError as full:
        for err in validation_errors(list(full.errors(include_url=False))):
            if err["field"] == first["field"]:
                if "YYYY-MM-DD" in err["detail"] and "YYYY-MM-DD" not in first["detail"]:
                    first["detail"] += " (expected a date as YYYY-MM-DD)"
            elif err not in errors:
                errors.append(err)
    except Exception:
        pass
    first["detail"] = printable(first["detail"])
    return Invalid(first["detail"], exc.field, errors)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; everything here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Service:
    def __init__(
        self, db: Database, engine: Engine, settings: Settings, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.engine = engine
        self.settings = settings
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.throttle = FailureThrottle(limit=settings.auth_failures_per_minute)
        self._keys: dict[str, tuple[Principal, float]] = {}
        self.gold_cards = GoldCards(db, self.clock)

    # --- helpers ------------------------------------------------------------------------

    def principal(self, key: str, client: str = "-") -> Principal:
        """Who holds this key. A worker trusts a key it looked up for `key_cache_seconds` (1 s):
        a lookup per request cost 0.2-0.4 ms, a tenth of a submission, and a revoked key is
        still refused by every worker within that second. A client sending unknown keys is
        throttled before the lookup."""
        ttl = self.settings.key_cache_seconds
        known = self._keys.get(key)
        now = time.monotonic()
        if known is not None and now - known[1] < ttl:
            return known[0]
        self.throttle.check(client)
        row = self.db.one(
            select(ApiKey.name, ApiKey.role, ApiKey.org, ApiKey.revoked_at).where(
                ApiKey.key_hash == hash_key(key)
            )
        )
        if row is None or row.revoked_at is not None:
            self._keys.pop(key, None)
            self.throttle.failed(client)
            raise Unauthorized(
                "revoked API key" if row is not None else "unknown API key", "Authorization"
            )
        who = Principal(name=row.name, role=row.role, org=row.org)
        if ttl > 0:
            if len(self._keys) >= 10_000:
                self._keys.clear()
            self._keys[key] = (who, now)
        return who

    def audit_reads(
        self,
        who: Principal,
        what: str,
        cases: list[Case] | list[str],
        at: dt.datetime | None = None,
    ) -> None:
        """The read-audit hook (see audit.py): one `read` event per case, in its own
        transaction, before the data goes out."""
        if not cases:
            return
        ids = [c if isinstance(c, str) else c.id for c in cases]
        status = {c.id: c.status for c in cases if isinstance(c, Case)}
        with self.db.session() as s:
            record_reads(s, who, what, ids, at or self.clock(), status)

    def audit_listing(self, who: Principal, what: str, shown: dict[str, str | None]) -> None:
        """The listing hook (see audit.py): one listing of the cases shown (case id -> status
        then), in its own transaction, before the page goes out."""
        if shown:
            with self.db.session() as s:
                record_listing(s, who, what, shown, self.clock())

    def due_by(self, received: dt.datetime, urgency: str) -> dt.datetime:
        if urgency == "expedited":
            return received + dt.timedelta(hours=self.settings.expedited_hours)
        return received + dt.timedelta(days=self.settings.standard_days)

    @staticmethod
    def _event(
        s: Session,
        case: Case,
        who: Principal,
        action: str,
        before: str | None,
        after: str | None,
        at: dt.datetime,
        **detail: Any,
    ) -> None:
        s.add(
            Event(
                case_id=case.id,
                at=at,
                actor=who.name,
                role=who.role,
                action=action,
                from_status=before,
                to_status=after,
                detail=detail,
            )
        )

    def _load(self, s: Session, who: Principal, case_id: str) -> Case:
        case = s.get(Case, case_id)
        # Another organization's case does not exist as far as a submitter can tell.
        if case is None or (who.role == "submitter" and case.org != who.org):
            raise NotFound(f"no case {case_id}")
        return case

    @staticmethod
    def _require(who: Principal, *roles: str) -> None:
        if who.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role; the key is {who.role}")

    def _authorize(self, s: Session, case: Case, auth: dict[str, Any], at: dt.datetime) -> None:
        s.add(
            Authorization(
                case_id=case.id,
                org=case.org,
                member_id=case.member_id,
                drug=case.drug,
                policy_number=case.policy_number,
                start=dt.date.fromisoformat(str(auth["start"])),
                end=dt.date.fromisoformat(str(auth["end"])),
                max_daily_dose_mg=auth.get("max_daily_dose_mg"),
                created_at=at,
            )
        )

    # --- submission and evaluation -------------------------------------------------------

    def _evaluate(self, s: Session, req: Request) -> tuple[dict[str, Any], list[str], int | None]:
        """The determination, notes, and the previous authorization a renewal builds on."""
        notes: list[str] = []
        previous = None
        try:
            policy = self.engine.policy_for(req)
            if req.kind == "renewal":
                previous = s.scalar(
                    select(Authorization)
                    .where(
                        Authorization.member_id == req.member.id,
                        Authorization.policy_number == policy.number,
                    )
                    .order_by(Authorization.end.desc())
                    .limit(1)
                )
                if previous is None:
                    notes.append(
                        "No previous authorization on file for this member and drug: "
                        "the request was evaluated against the initial requirements."
                    )
                    req = req.model_copy(update={"kind": "initial"})
            # The trace is not stored: it is rebuilt on demand (GET /cases/{id}/trace) from the
            # request and the policy version, which never change.
            det = self.engine.evaluate_model(req).model_dump(mode="json", exclude={"trace"})
        except RequestError as exc:
            raise Invalid(str(exc), exc.field) from None
        except PriorAuthError as exc:
            raise Invalid(str(exc)) from None
        return det, notes, previous.id if previous is not None else None

    def _gold_card(
        self, s: Session, req: Request, det: dict[str, Any], now: dt.datetime
    ) -> tuple[GoldCard | None, dict[str, Any]]:
        """The card the request's prescriber holds for the drug today, and the approval it
        gives: the authorization an approval by criteria would (the policy's duration and
        quantity limit), whatever the criteria say. Without a card: None and the
        determination unchanged."""
        npi = req.prescriber.npi if req.prescriber else None
        card = self.gold_cards.holding(s, npi, det["policy"]["title"], now.date()) if npi else None
        if card is None:
            return None, det
        req = req.model_copy(update={"kind": det["policy"]["requirements"]})
        granted = self.engine.authorize(req)
        partial = granted.max_daily_dose_mg < det["requested_daily_dose_mg"]
        return card, {
            **det,
            "decision": "partially_approved" if partial else "approved",
            "denial_basis": None,
            "approval_basis": "gold_card",
            "authorization": jsonable(msgspec.structs.asdict(granted)),
            "reasons": [gold_card_reason(card, partial)],
            "missing": [],
        }

    @staticmethod
    def _status_for(det: dict[str, Any]) -> str:
        decision = det["decision"]
        if decision in APPROVED:
            return str(decision)
        return "pended" if decision == "pended" else "in_review"

    def _apply(
        self,
        s: Session,
        case: Case,
        who: Principal,
        det: dict[str, Any],
        at: dt.datetime,
        action: str,
    ) -> None:
        before = case.status if case.status != "new" else None
        case.determination = det
        case.status = self._status_for(det)
        if case.status in APPROVED:
            case.decided_at = at
            case.decided_by = "engine"
            self._authorize(s, case, det["authorization"], at)
        self._event(
            s,
            case,
            who,
            action,
            before,
            case.status,
            at,
            decision=det["decision"],
            denial_basis=det["denial_basis"],
            missing=[q["id"] for q in det["missing"]],
        )

    def submit(
        self,
        who: Principal,
        body: Any,
        idempotency_key: str | None,
        record: Callable[[Session, Case], None] | None = None,
    ) -> tuple[Case, bool]:
        """A new case, decided at once where the engine can; (case, created). `record` adds an
        adapter's own rows about the new case (where it came from) in the case's transaction."""
        self._require(who, "submitter", "admin")
        org = who.org or "plan"
        try:
            req = parse_request(body)
        except RequestError as exc:
            raise request_invalid(body, exc) from None
        if req.plan is None and who.org in self.settings.plan_of_org:
            # The submitting organization's plan (PRIORAUTH_ORG_PLANS), kept in the stored
            # request so that every later decision of the case is under the same plan.
            req = req.model_copy(update={"plan": self.settings.plan_of_org[who.org]})
        self.gold_cards.evaluate_daily()
        # A retry is found by the unique (org, Idempotency-Key) constraint when it inserts, so
        # a first submission costs no extra lookup.
        now = self.clock()
        try:
            with self.db.session() as s:
                det, notes, previous = self._evaluate(s, req)
                card, carded = self._gold_card(s, req, det, now)
                engine_det = None
                if card is not None:  # the engine's own decision kept beside the card's
                    det, engine_det = carded, det
                case = Case(
                    id=str(uuid.uuid4()),
                    org=org,
                    submitted_by=who.name,
                    idempotency_key=idempotency_key,
                    member_id=req.member.id,
                    drug=det["policy"]["title"],
                    policy_number=det["policy"]["number"],
                    kind=req.kind,
                    urgency=req.urgency,
                    status="new",
                    request=req.model_dump(mode="json", exclude_none=True),
                    determination=det,
                    notes=notes,
                    received_at=now,
                    due_by=self.due_by(now, req.urgency),
                    appealed=False,
                    previous_authorization_id=previous,
                    engine_determination=engine_det,
                )
                s.add(case)
                s.flush()
                self._event(
                    s,
                    case,
                    who,
                    "submitted",
                    None,
                    "received",
                    now,
                    idempotency_key=idempotency_key,
                )
                self._apply(s, case, who, det, now, "evaluated")
                if card is not None:
                    self.gold_cards.mark(s, case.id, card)
                if record is not None:
                    record(s, case)
            return case, True
        except IntegrityError:
            # A simultaneous retry with the same Idempotency-Key won the race: return its case.
            if idempotency_key is None:
                raise
            found = self._by_idempotency(org, idempotency_key, req)
            if found is None:
                raise
            return found, False

    def _by_idempotency(self, org: str, key: str, req: Request) -> Case | None:
        with self.db.reading() as s:
            case = s.scalar(select(Case).where(Case.org == org, Case.idempotency_key == key))
            if case is None:
                return None
            if case.request != req.model_dump(mode="json", exclude_none=True):
                raise Conflict(
                    "this Idempotency-Key was used for a different request", "Idempotency-Key"
                )
            return case

    def add_information(self, who: Principal, case_id: str, info: dict[str, Any]) -> Case:
        self._require(who, "submitter", "admin")
        unknown = sorted(set(info) - set(INFO_FIELDS))
        if unknown:
            raise Invalid(
                f"{unknown[0]}: not information a case can take (one of {', '.join(INFO_FIELDS)})",
                unknown[0],
            )
        if not info:
            raise Invalid("no information given", "body")
        for key, value in info.items():
            if value is None:
                raise Invalid(f"{key}: null is not information; leave it out", key)
        self.expire_pends()  # a deadline that has passed closes the pend first
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            if case.status != "pended":
                raise Conflict(
                    f"case {case_id} is {case.status}: only a pended case takes information"
                )
            merged = dict(case.request)
            for key, value in info.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            try:
                req = parse_request(merged)
            except RequestError as exc:
                raise request_invalid(merged, exc) from None
            det, _, _ = self._evaluate(s, req)
            case.request = req.model_dump(mode="json", exclude_none=True)
            self._event(
                s, case, who, "information_added", "pended", "pended", now, fields=sorted(info)
            )
            self._apply(s, case, who, det, now, "re-evaluated")
            self._commit_or_conflict(s, case_id)
        return case

    def _commit_or_conflict(self, s: Session, case_id: str) -> None:
        try:
            s.flush()
        except StaleDataError:
            raise Conflict(f"case {case_id} was changed by someone else; reload it") from None

    # --- people's decisions ---------------------------------------------------------------

    def review(self, who: Principal, case_id: str, action: str, reason: str) -> Case:
        """A pharmacist confirms the recommended denial or overturns it."""
        self._require(who, "reviewer")
        if action not in ("confirm_denial", "overturn"):
            raise Invalid("action: expected confirm_denial or overturn", "action")
        if not reason.strip():
            raise Invalid("reason: say why", "reason")
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            if case.status != "in_review":
                raise Conflict(f"case {case_id} is {case.status}, not awaiting review")
            if action == "confirm_denial":
                case.status, case.denied_by = "denied", who.name
            else:
                case.status = "approved"
                self._overturn(s, case, now)
            case.decided_at, case.decided_by, case.decision_reason = now, who.name, reason
            self._explain_denial(case)
            self._event(s, case, who, action, "in_review", case.status, now, reason=reason)
            self._commit_or_conflict(s, case_id)
        return case

    def trace(self, who: Principal, case_id: str, audit: bool = True) -> dict[str, Any]:
        """The engine's full explanation of the case's determination, rebuilt from its request.
        ``audit=False`` only for a page that has already recorded its read of the case."""
        with self.db.reading() as s:
            case = self._load(s, who, case_id)
            req = parse_request(case.request)
        req = req.model_copy(update={"kind": case.determination["policy"]["requirements"]})
        det = self.engine.evaluate_model(req)
        trace = dataclasses.asdict(det.trace)
        if audit:
            self.audit_reads(who, "trace", [case])
        return trace

    def _overturn(self, s: Session, case: Case, at: dt.datetime) -> None:
        """A pharmacist approves what the engine would have denied: the authorization is
        recorded, and the case's determination says approved with it (a client reading
        `determination` sees the answer in force); the engine's stays in
        `engine_determination`."""
        granted = self._granted(case)
        self._authorize(s, case, granted, at)
        self._replace_determination(
            case,
            decision="approved",
            denial_basis=None,
            # A pharmacist found the criteria met on review.
            approval_basis="criteria_met",
            authorization=jsonable(granted),
            reasons=[],
            missing=[],
        )

    def _explain_denial(self, case: Case) -> None:
        """A denial's explanation kept with its determination: each unmet criterion in the
        policy's words, what would meet it, the appeal steps and their deadline."""
        if case.status != "denied" or case.decided_at is None:
            return
        told = explain.explanation(
            self.engine,
            case.determination,
            case.status,
            case.appealed,
            case.decision_reason,
            case.decided_by,
            _utc(case.decided_at).date(),
        )
        case.determination = {**case.determination, "explanation": told}

    @staticmethod
    def _replace_determination(case: Case, **changes: Any) -> None:
        if case.engine_determination is None:
            case.engine_determination = case.determination
        case.determination = {**case.determination, **changes}

    def _granted(self, case: Case) -> dict[str, Any]:
        req = parse_request(case.request)
        # A renewal with no authorization on file was held to the initial requirements.
        req = req.model_copy(update={"kind": case.determination["policy"]["requirements"]})
        return msgspec.structs.asdict(self.engine.authorize(req))

    def appeal(self, who: Principal, case_id: str, reason: str) -> Case:
        self._require(who, "submitter", "admin")
        if not reason.strip():
            raise Invalid("reason: say why the denial should be overturned", "reason")
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            if case.status != "denied":
                raise Conflict(f"case {case_id} is {case.status}: only a denial can be appealed")
            if case.appealed:
                raise Conflict(f"case {case_id} was appealed already")
            case.status, case.appealed = "in_appeal", True
            case.due_by = self.due_by(now, case.urgency)
            self._event(s, case, who, "appealed", "denied", "in_appeal", now, reason=reason)
            self._commit_or_conflict(s, case_id)
        return case

    def decide_appeal(self, who: Principal, case_id: str, action: str, reason: str) -> Case:
        """Decided by a different reviewer than the one who denied."""
        self._require(who, "reviewer")
        if action not in ("uphold", "overturn"):
            raise Invalid("action: expected uphold or overturn", "action")
        if not reason.strip():
            raise Invalid("reason: say why", "reason")
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            if case.status != "in_appeal":
                raise Conflict(f"case {case_id} is {case.status}, not under appeal")
            if case.denied_by == who.name:
                raise Forbidden(
                    "an appeal is decided by a different reviewer than the one who denied"
                )
            if action == "uphold":
                case.status = "denied"
            else:
                case.status = "approved"
                self._overturn(s, case, now)
            case.decided_at, case.decided_by, case.decision_reason = now, who.name, reason
            self._explain_denial(case)
            self._event(
                s, case, who, f"appeal_{action}", "in_appeal", case.status, now, reason=reason
            )
            self._commit_or_conflict(s, case_id)
        return case

    def withdraw(self, who: Principal, case_id: str, reason: str) -> Case:
        self._require(who, "submitter", "admin")
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            if case.status not in OPEN:
                raise Conflict(
                    f"case {case_id} is {case.status}: only an open case can be withdrawn"
                )
            before, case.status = case.status, "withdrawn"
            self._event(s, case, who, "withdrawn", before, "withdrawn", now, reason=reason)
            self._commit_or_conflict(s, case_id)
        return case

    def expire_pends(self) -> int:
        """Pends unanswered by their deadline are denied for lack of information."""
        if self.settings.pend_expiry != "deny":
            return 0
        now = self.clock()
        system = Principal("system", "admin", None)
        overdue = (Case.status == "pended", Case.due_by < now)
        with self.db.reading() as s:
            if s.scalar(select(Case.id).where(*overdue).limit(1)) is None:
                return 0  # the usual case: no write transaction
        with self.db.session() as s:
            rows = s.scalars(select(Case).where(*overdue)).all()
            for case in rows:
                case.status, case.decided_at, case.decided_by = "denied", now, "system"
                case.decision_reason = "no answer to the questions before the decision deadline"
                case.denied_by = "system"
                # Not shown to meet the criteria in time; the unanswered questions stay listed.
                self._replace_determination(
                    case, decision="denied", denial_basis="criteria_not_met", authorization=None
                )
                self._explain_denial(case)
                self._event(
                    s, case, system, "expired", "pended", "denied", now, reason=case.decision_reason
                )
        return len(rows)

    # --- reading ------------------------------------------------------------------------

    def get(self, who: Principal, case_id: str, what: str = "case") -> Case:
        self.expire_pends()
        now = self.clock()
        with self.db.session() as s:
            case = self._load(s, who, case_id)
            record_reads(s, who, what, [case.id], now, {case.id: case.status})
        return case

    def list_cases(
        self,
        who: Principal,
        status: str | None = None,
        member_id: str | None = None,
        limit: int = paging.DEFAULT_LIMIT,
        cursor: str | None = None,
        what: str = "case list",
    ) -> Page[Case]:
        """Cases, newest first (received_at, then id, descending): one page."""
        if status and status not in STATUSES:
            raise Invalid(f"status: expected one of {', '.join(STATUSES)}", "status")
        paging.check_limit(limit)
        scope = {"status": status, "member_id": member_id}
        key = self._position(cursor, "cases", scope, paging.aware, paging.text)
        with self.db.reading() as s:
            q = select(Case)
            if who.role == "submitter":
                q = q.where(Case.org == who.org)
            if status:
                q = q.where(Case.status == status)
            if member_id:
                q = q.where(Case.member_id == member_id)
            if key:
                q = q.where(paging.after(Case.received_at, Case.id, key, descending=True))
            q = q.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit + 1)
            rows = list(s.scalars(q).all())
        page = paging.page_of(
            rows,
            limit,
            lambda c: (c.received_at, c.id),
            lambda k: paging.encode("cases", scope, k),
        )
        self.audit_listing(who, what, {c.id: c.status for c in page.items})
        return page

    def queue(
        self,
        who: Principal,
        limit: int = paging.DEFAULT_LIMIT,
        cursor: str | None = None,
        status: str | None = None,
        drug: str | None = None,
        org: str | None = None,
    ) -> Page[Case]:
        """The pharmacists' work: recommended denials and appeals, the most urgent first
        (due_by, then id): one page, optionally of one status, drug or organization.

        An appeal puts a case back in the queue with a later due_by, after the place a client
        paging through it may have reached: a case seen in review, denied and appealed would be
        shown again. So the first page notes the last event then (the cursor carries it), and
        every page leaves out the appeals filed after it."""
        self._require(who, "reviewer", "admin")
        if status and status not in QUEUED:
            raise Invalid(f"status: expected one of {', '.join(QUEUED)}", "status")
        paging.check_limit(limit)
        scope = {"status": status, "drug": drug, "org": org}
        key = self._position(cursor, "queue", scope, paging.aware, paging.text, paging.number)
        self.expire_pends()
        rows: list[Case] = []
        with self.db.reading() as s:
            horizon = key[2] if key else s.scalar(select(func.max(Event.id))) or 0
            # One index range per status, merged here: an IN over both statuses cannot be
            # read in (due_by, id) order from the index and would sort the whole queue.
            for one in (status,) if status else QUEUED:
                q = select(Case).where(Case.status == one)
                if drug:
                    q = q.where(Case.drug == drug)
                if org:
                    q = q.where(Case.org == org)
                if key:
                    q = q.where(paging.after(Case.due_by, Case.id, key[:2]))
                if one == "in_appeal":
                    q = q.where(~self._appealed_after(horizon))
                rows += s.scalars(q.order_by(Case.due_by, Case.id).limit(limit + 1)).all()
        rows.sort(key=lambda c: (_utc(c.due_by), c.id))
        page = paging.page_of(
            rows[: limit + 1],
            limit,
            lambda c: (c.due_by, c.id, horizon),
            lambda k: paging.encode("queue", scope, k),
        )
        self.audit_listing(who, "queue", {c.id: c.status for c in page.items})
        return page

    @staticmethod
    def _appealed_after(event_id: int) -> ColumnElement[bool]:
        return (
            select(Event.id)
            .where(Event.case_id == Case.id, Event.id > event_id, Event.action == "appealed")
            .exists()
        )

    def queue_size(self, who: Principal, at_most: int, **filters: str | None) -> int:
        """How many cases the queue holds with these filters, counted up to `at_most` (a count
        of the whole queue would cost as much as reading it). Counts, not case data: not a
        read of any case."""
        self._require(who, "reviewer", "admin")
        status = filters.get("status")
        inner = select(Case.id).where(Case.status.in_((status,) if status else QUEUED))
        for name in ("drug", "org"):
            if filters.get(name):
                inner = inner.where(getattr(Case, name) == filters[name])
        with self.db.reading() as s:
            return int(
                s.scalar(select(func.count()).select_from(inner.limit(at_most).subquery())) or 0
            )

    def queue_choices(self, who: Principal) -> dict[str, list[str]]:
        """The drugs and the organizations of the cases in the queue, for its filters. Names,
        not case data: not a read of any case."""
        self._require(who, "reviewer", "admin")
        queued = Case.status.in_(QUEUED)
        with self.db.reading() as s:
            drugs = s.scalars(select(Case.drug).where(queued).distinct().order_by(Case.drug))
            orgs = s.scalars(select(Case.org).where(queued).distinct().order_by(Case.org))
            return {"drugs": list(drugs), "orgs": list(orgs)}

    def history(self, who: Principal, case_id: str, audit: bool = True) -> list[Event]:
        """The case's events, and the listings that showed it as reads, in time order;
        ``audit=False`` as for :meth:`trace`."""
        with self.db.reading() as s:
            case = self._load(s, who, case_id)
            events = list(
                s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id))
            )
            listed = listing_reads(s, case_id)
        if audit:
            self.audit_reads(who, "history", [case])
        # A stable merge: the events keep their own order, a listing at the same instant as an
        # event comes after it.
        return list(heapq.merge(events, listed, key=lambda e: _utc(e.at)))

    def member_authorizations(
        self,
        who: Principal,
        member_id: str,
        limit: int = paging.DEFAULT_LIMIT,
        cursor: str | None = None,
        what: str = "member authorizations",
    ) -> Page[Authorization]:
        """The member's authorizations, latest ending first (end, then id, descending)."""
        paging.check_limit(limit)
        scope = {"member_id": member_id}
        key = self._position(cursor, "member authorizations", scope, paging.day, paging.number)
        with self.db.reading() as s:
            q = select(Authorization).where(Authorization.member_id == member_id)
            if who.role == "submitter":
                q = q.where(Authorization.org == who.org)
            if key:
                q = q.where(paging.after(Authorization.end, Authorization.id, key, True))
            q = q.order_by(Authorization.end.desc(), Authorization.id.desc()).limit(limit + 1)
            rows = list(s.scalars(q).all())
        page = paging.page_of(
            rows,
            limit,
            lambda a: (a.end, a.id),
            lambda k: paging.encode("member authorizations", scope, k),
        )
        self.audit_listing(who, what, dict.fromkeys(a.case_id for a in page.items))
        return page

    def expiring(
        self,
        who: Principal,
        within_days: int,
        limit: int = paging.DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[Authorization]:
        """Authorizations ending from today to within_days from now, the soonest first (end,
        then id)."""
        paging.check_limit(limit)
        scope = {"within_days": within_days}
        key = self._position(cursor, "expiring", scope, paging.day, paging.number)
        today = self.clock().date()
        with self.db.reading() as s:
            q = select(Authorization).where(
                Authorization.end >= today,
                Authorization.end <= today + dt.timedelta(days=within_days),
            )
            if who.role == "submitter":
                q = q.where(Authorization.org == who.org)
            if key:
                q = q.where(paging.after(Authorization.end, Authorization.id, key))
            q = q.order_by(Authorization.end, Authorization.id).limit(limit + 1)
            rows = list(s.scalars(q).all())
        page = paging.page_of(
            rows,
            limit,
            lambda a: (a.end, a.id),
            lambda k: paging.encode("expiring", scope, k),
        )
        self.audit_listing(
            who, "expiring authorizations", dict.fromkeys(a.case_id for a in page.items)
        )
        return page

    @staticmethod
    def _position(
        cursor: str | None, name: str, scope: dict[str, Any], *types: paging.Decoder
    ) -> paging.Key | None:
        return paging.decode(cursor, name, scope, types) if cursor is not None else None

    def metrics(self, who: Principal, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """The CMS public-reporting figures for requests received in [start, end)."""
        self._require(who, "reviewer", "admin")
        with self.db.reading() as s:
            rows = s.scalars(
                select(Case).where(Case.received_at >= start, Case.received_at < end)
            ).all()
        out: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
        for urgency in ("standard", "expedited"):
            cases = [c for c in rows if c.urgency == urgency]
            decided = [
                c for c in cases if c.decided_at is not None and c.status in (*APPROVED, "denied")
            ]
            hours = [
                (_utc(c.decided_at) - _utc(c.received_at)).total_seconds() / 3600  # type: ignore[arg-type]
                for c in decided
            ]
            n = len(decided)

            def pct(k: int, n: int = n) -> float | None:
                return round(100 * k / n, 2) if n else None

            approved = sum(c.status in APPROVED for c in decided)
            after_appeal = sum(c.status in APPROVED and c.appealed for c in decided)
            quick = sum(real_time(c) for c in decided)
            out[urgency] = {
                "received": len(cases),
                "decided": n,
                "approved": approved,
                "denied": n - approved,
                "approved_after_appeal": after_appeal,
                "percent_approved": pct(approved),
                "percent_denied": pct(n - approved),
                "percent_approved_after_appeal": pct(after_appeal),
                "approved_real_time": quick,
                "percent_of_approvals_real_time": (
                    round(100 * quick / approved, 2) if approved else None
                ),
                "average_hours_to_decision": round(statistics.fmean(hours), 3) if hours else None,
                "median_hours_to_decision": round(statistics.median(hours), 3) if hours else None,
            }
        return out


def case_view(case: Case, now: dt.datetime) -> dict[str, Any]:
    decided = _utc(case.decided_at) if case.decided_at else None
    due = _utc(case.due_by)
    det = case.determination
    return {
        "id": case.id,
        "status": case.status,
        "org": case.org,
        "member_id": case.member_id,
        "drug": case.drug,
        "policy_number": case.policy_number,
        "kind": case.kind,
        "urgency": case.urgency,
        "received_at": _utc(case.received_at).isoformat(),
        "due_by": due.isoformat(),
        "overdue": case.status in OPEN and now > due,
        "decided_at": decided.isoformat() if decided else None,
        "decided_by": case.decided_by,
        "decision_reason": case.decision_reason,
        "hours_to_decision": (
            round((decided - _utc(case.received_at)).total_seconds() / 3600, 3) if decided else None
        ),
        "recommendation": "deny" if case.status == "in_review" else None,
        "appealed": case.appealed,
        "previous_authorization_id": case.previous_authorization_id,
        "notes": case.notes,
        "questions": det.get("missing", []) if case.status == "pended" else [],
        "determination": det,
        "engine_determination": case.engine_determination,
        "version": case.version,
    }
