"""R4 Backport Subscriptions on the PAS topic: a subscriber hears when one of its
organization's PAS cases changes state (pended, decided by a pharmacist, withdrawn, ...).

Delivery reads the audit trail (`events`, append-only, ordered by id) rather than hooking the
workflow: whatever changed the case (FHIR, the JSON API, the web UI, the expiry of a pend), the
change is an event, and each subscription remembers the last event it delivered. A failed POST
is retried (three tries a round, then again next round); after five failed rounds the
subscription is put in `error` and stops.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import threading
import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.subscription import Subscription
from pydantic import ValidationError
from sqlalchemy import func, select

from priorauth.fhir import pas
from priorauth.fhir.capability import PAS_TOPIC
from priorauth.fhir.models import FhirClaim, FhirSubscription
from priorauth.fhir.outcome import FhirError, json_value, pydantic_expression
from priorauth.service.auth import Principal
from priorauth.service.logs import failure_line
from priorauth.service.models import Case, Event
from priorauth.service.workflow import Service

log = logging.getLogger("priorauth.fhir.subscriptions")
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
CONTENTS = ("empty", "id-only", "full-resource")
NOTIFY_ACTIONS = {"evaluated", "re-evaluated"}
"""Besides every change of status: a pend evaluated again may still be pended, with other
questions."""
SILENT = {"submitted", "read"}
"""A submission's own news is its evaluation, the event that follows it."""
TRIES = 3
MAX_FAILED_ROUNDS = 5


def _parse(raw: bytes) -> dict[str, Any]:
    data = json_value(raw)
    if not isinstance(data, dict) or data.get("resourceType") != "Subscription":
        got = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise FhirError(f"expected a Subscription, got {got!r}", "Subscription.resourceType")
    try:
        Subscription.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = pydantic_expression("Subscription", tuple(err.get("loc", ())))
        raise FhirError(f"{where}: {err.get('msg', 'invalid')}", where) from None
    except Exception as exc:
        raise FhirError(f"not a valid Subscription: {exc}", "Subscription") from None
    return data


def create(service: Service, who: Principal, raw: bytes) -> dict[str, Any]:
    data = _parse(raw)
    if data.get("criteria") != PAS_TOPIC:
        raise FhirError(
            f"criteria must be the PAS topic {PAS_TOPIC}", "Subscription.criteria", code="value"
        )
    channel = data.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise FhirError(
            "only rest-hook channels", "Subscription.channel.type", code="not-supported"
        )
    endpoint = str(channel.get("endpoint") or "")
    if not endpoint.startswith(("http://", "https://")):
        raise FhirError(
            "an http(s) endpoint is needed", "Subscription.channel.endpoint", code="required"
        )
    content = "id-only"
    for ext in (channel.get("_payload") or {}).get("extension") or []:
        if ext.get("url") == f"{BACKPORT}/backport-payload-content":
            content = str(ext.get("valueCode"))
    if content not in CONTENTS:
        raise FhirError(
            f"payload content {content!r}: one of {', '.join(CONTENTS)}",
            "Subscription.channel._payload.extension",
            code="value",
        )
    if who.role not in ("submitter", "admin"):
        raise FhirError("subscriptions are for submitters and admins", None, 403, "forbidden")
    headers = [h for h in channel.get("header") or [] if isinstance(h, str) and ":" in h]
    with service.db.reading() as s:
        last = s.scalar(select(func.max(Event.id))) or 0
    sub_id = str(uuid.uuid4())
    # Active once the endpoint has taken the handshake (the dispatcher sends it).
    resource = {**data, "id": sub_id, "status": "requested"}
    with service.db.session() as s:
        s.add(
            FhirSubscription(
                id=sub_id,
                org=who.org,
                owner=who.name,
                endpoint=endpoint,
                content=content,
                headers=headers,
                status="requested",
                last_event_id=int(last),
                events_sent=0,
                failures=0,
                error=None,
                resource=resource,
                created_at=service.clock(),
            )
        )
    return Subscription.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _load(service: Service, who: Principal, sub_id: str) -> FhirSubscription:
    with service.db.reading() as s:
        row = s.get(FhirSubscription, sub_id)
    if row is None or (who.role == "submitter" and row.org != who.org):
        raise FhirError(f"no Subscription {sub_id}", "Subscription.id", 404, "not-found")
    return row


def read(service: Service, who: Principal, sub_id: str) -> dict[str, Any]:
    row = _load(service, who, sub_id)
    resource = {**row.resource, "status": row.status}
    if row.error:
        resource["error"] = row.error[:500]
    return Subscription.model_validate(resource).model_dump(mode="json", exclude_none=True)


def delete(service: Service, who: Principal, sub_id: str) -> None:
    _load(service, who, sub_id)
    with service.db.session() as s:
        row = s.get(FhirSubscription, sub_id)
        if row is not None:
            row.status = "off"


def _status(row: FhirSubscription, kind: str, events: list[tuple[int, str, str]]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"Subscription/{row.id}"}},
        {"name": "topic", "valueCanonical": PAS_TOPIC},
        {"name": "status", "valueCode": row.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(row.events_sent)},
    ]
    for number, at, focus in events:
        params.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": at},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{BACKPORT}/backport-subscription-status-r4"]},
        "parameter": params,
    }


def status_bundle(service: Service, who: Principal, sub_id: str) -> dict[str, Any]:
    row = _load(service, who, sub_id)
    body = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": _status(row, "query-status", [])}],
    }
    return Bundle.model_validate(body).model_dump(mode="json", exclude_none=True)


def handshake(row: FhirSubscription, at: dt.datetime) -> dict[str, Any]:
    """The first message to a new endpoint: it proves the endpoint takes our notifications."""
    at_text = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()
    body = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{BACKPORT}/backport-subscription-notification-r4"]},
        "type": "history",
        "timestamp": at_text,
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": _status(row, "handshake", [])}
        ],
    }
    return Bundle.model_validate(body).model_dump(mode="json", exclude_none=True)


def notification(
    row: FhirSubscription, number: int, at: dt.datetime, claim_response: dict[str, Any]
) -> dict[str, Any]:
    focus = f"ClaimResponse/{claim_response['id']}"
    at_text = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": _status(
                row,
                "event-notification",
                [] if row.content == "empty" else [(number, at_text, focus)],
            ),
        }
    ]
    if row.content == "full-resource":
        entries.append(
            {
                "fullUrl": focus,
                "resource": claim_response,
                "request": {"method": "PUT", "url": focus},
                "response": {"status": "200"},
            }
        )
    elif row.content == "id-only":
        entries.append(
            {
                "fullUrl": focus,
                "request": {"method": "PUT", "url": focus},
                "response": {"status": "200"},
            }
        )
    body = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{BACKPORT}/backport-subscription-notification-r4"]},
        "type": "history",
        "timestamp": at_text,
        "entry": entries,
    }
    return Bundle.model_validate(body).model_dump(mode="json", exclude_none=True)


class Dispatcher:
    """A thread that delivers notifications; started and stopped with the application."""

    def __init__(self, app: FastAPI, interval: float = 0.25) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = httpx.Client(timeout=5.0)
        self._lock: Any = None

    def _leader(self, service: Service) -> bool:
        """One dispatcher per database delivers (`serve --workers N` starts N): a PostgreSQL
        advisory lock held on its own connection, or a file lock beside the SQLite file."""
        if self._lock is not None:
            return True
        url = service.db.url
        if url.startswith("postgresql"):
            conn = service.db.engine.connect()
            got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(7210010)").scalar()
            conn.commit()
            if got:
                self._lock = conn
            else:
                conn.close()
        else:
            path = url.split("///", 1)[-1]
            if not path or path == ":memory:":
                self._lock = True
                return True
            handle = open(f"{path}.notify.lock", "a")  # noqa: SIM115 - held while we lead
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = handle
            except OSError:
                handle.close()
        return self._lock is not None

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is None or lock is True:
            return
        try:
            lock.close()  # closing the connection or the file releases the lock
        except Exception as exc:
            log.error("releasing the notification lock failed: %s", failure_line(exc))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="fhir-notify", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._release()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.round()
            except Exception as exc:
                log.error("notification round failed: %s", failure_line(exc))

    def round(self) -> int:
        """One pass over the active subscriptions; how many notifications were delivered."""
        service: Service = self.app.state.service
        if not self._leader(service):
            return 0
        with service.db.reading() as s:
            subs = list(
                s.scalars(
                    select(FhirSubscription).where(
                        FhirSubscription.status.in_(("requested", "active"))
                    )
                ).all()
            )
        sent = 0
        for sub in subs:
            if sub.status == "requested":
                self._handshake(service, sub)
            else:
                sent += self._deliver(service, sub)
        return sent

    def _handshake(self, service: Service, sub: FhirSubscription) -> None:
        error = self._post(sub, handshake(sub, service.clock()))
        if error is not None:
            self._fail(service, sub.id, error)
            return
        with service.db.session() as s:
            row = s.get(FhirSubscription, sub.id)
            if row is not None and row.status == "requested":
                row.status, row.failures, row.error = "active", 0, None

    def _pending(
        self, service: Service, sub: FhirSubscription
    ) -> tuple[list[tuple[Event, Case, FhirClaim]], int | None]:
        """(events to notify, in order; the last event id looked at)."""
        with service.db.reading() as s:
            q = (
                select(Event, Case, FhirClaim)
                .join(Case, Case.id == Event.case_id)
                .join(FhirClaim, FhirClaim.case_id == Event.case_id)
                .where(Event.id > sub.last_event_id)
                .order_by(Event.id)
                .limit(100)
            )
            if sub.org is not None:
                q = q.where(FhirClaim.org == sub.org)
            rows: list[tuple[Event, Case, FhirClaim]] = [
                (r[0], r[1], r[2]) for r in s.execute(q).all()
            ]
        wanted = [
            r
            for r in rows
            if r[0].action not in SILENT
            and (r[0].from_status != r[0].to_status or r[0].action in NOTIFY_ACTIONS)
        ]
        return wanted, (rows[-1][0].id if rows else None)

    def _deliver(self, service: Service, sub: FhirSubscription) -> int:
        sent = 0
        wanted, last = self._pending(service, sub)
        for event, case, claim in wanted:
            result = pas.ItemResult(claim.item_sequence, case, claim.claim, claim.sources)
            pas.with_authorizations(service, [result])
            cr = pas.claim_response([result], event.at)
            cr["id"] = case.id
            body = notification(sub, sub.events_sent + sent + 1, event.at, cr)
            error = self._post(sub, body)
            if error is not None:
                self._fail(service, sub.id, error)
                return sent
            sent += 1
            self._advance(service, sub.id, event.id, 1)
        if last is not None:
            self._advance(service, sub.id, last, 0)  # past events nobody is told about
        return sent

    def _post(self, sub: FhirSubscription, body: dict[str, Any]) -> str | None:
        headers = {"Content-Type": "application/fhir+json"}
        for h in sub.headers:
            name, _, value = h.partition(":")
            headers[name.strip()] = value.strip()
        error = "not sent"
        for attempt in range(TRIES):
            try:
                r = self.client.post(sub.endpoint, content=json.dumps(body), headers=headers)
                if r.status_code < 300:
                    return None
                error = f"HTTP {r.status_code} from {sub.endpoint}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1 * 2**attempt)
        return error

    @staticmethod
    def _advance(service: Service, sub_id: str, event_id: int, delivered: int) -> None:
        with service.db.session() as s:
            row = s.get(FhirSubscription, sub_id)
            if row is not None:
                row.last_event_id = event_id
                row.events_sent += delivered
                row.failures = 0
                row.error = None

    @staticmethod
    def _fail(service: Service, sub_id: str, error: str) -> None:
        with service.db.session() as s:
            row = s.get(FhirSubscription, sub_id)
            if row is not None:
                row.failures += 1
                row.error = error
                if row.failures >= MAX_FAILED_ROUNDS:
                    row.status = "error"
