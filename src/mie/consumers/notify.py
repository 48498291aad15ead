"""Notifications: subscriptions, planning deliveries from the change stream, and sending them in the background.

Flow (see docs/notifications.md):

1. A :class:`~mie.consumers.base.ChangeConsumer` named ``notifications`` follows the change log. For each
   notifiable event (every ``WorkflowExecution`` status change; ``MediaConvert`` job events with status COMPLETE
   or ERROR) and each matching subscription it *plans* a delivery: a row of the delivery log whose id is derived
   from the subscription and the event ``seq``. Planning ignores rows that exist already, so handing the same
   events twice (after a crash between planning and saving the offset) plans nothing twice.
2. ``MIE_NOTIFY_WORKERS`` sender threads (a :class:`~mie.background.CallbackLoop`) claim due deliveries from the
   delivery log's :class:`~mie.storage.workqueue.WorkQueue` (a lease, so a crashed sender's delivery is taken
   again later), POST them (webhooks) or mail them (SMTP), and record each attempt: delivered, failed for good
   after ``MIE_NOTIFY_ATTEMPTS``, or due again after an exponential backoff.

Nothing of this runs in the engine's threads: writers only append to the change log, as they always do.
Delivery is at least once: a crash after the receiver answered and before the attempt was recorded sends that
delivery again (with the same ``X-Mie-Delivery`` id) once its lease ends.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from mie.background import CallbackLoop
from mie.config import Settings
from mie.consumers import mail
from mie.consumers.base import ChangeConsumer, OffsetStore
from mie.consumers.notify_settings import NotifySettings
from mie.consumers.webhooks import Outcome, WebhookSender, check_url
from mie.dataplane.changes import WORKFLOW_EXECUTION, ChangeLog
from mie.errors import InvalidError, NotFoundError
from mie.operators.outbound import STRICT, OutboundPolicy
from mie.storage.workqueue import Claim, WorkQueue
from mie.types import JSONDict, WorkflowStatus

log = logging.getLogger(__name__)

#: Change-log source of the transcode jobs' MediaConvert-shaped events.
JOB_SOURCE = "MediaConvert"
CONSUMER_NAME = "notifications"
EXECUTION = "execution"
JOB = "job"
EVENT_TYPES = (EXECUTION, JOB)
#: Job statuses that are notified (the sample's EventBridge rule).
JOB_STATUSES = ("COMPLETE", "ERROR")
EXECUTION_STATUSES = tuple(s.value for s in WorkflowStatus)
_FIELDS = {"Url", "Email", "Events", "Statuses", "Secret"}
_NAMESPACE = uuid.UUID("6d69652d-6e6f-7469-6679-2d64656c6976")


class NotificationStore(Protocol):
    """Subscriptions and the delivery log (``mie.storage.sql.notify_tables.SqlNotificationStore``)."""

    def add_subscription(self, record: JSONDict) -> None:
        """Insert a validated subscription."""

    def get_subscription(self, subscription_id: str) -> JSONDict | None:
        """One subscription with its ``Secret``, or None."""

    def list_subscriptions(
        self, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[JSONDict], int | None]:
        """A page of subscriptions (oldest first) and the next page's token."""

    def has_subscriptions(self) -> bool:
        """Whether any subscription exists."""

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription with its deliveries; False when unknown."""

    def add_deliveries(self, deliveries: list[JSONDict]) -> int:
        """Insert planned deliveries, ignoring ones planned already; returns how many were new."""

    @property
    def queue(self) -> WorkQueue:
        """The deliveries as a work queue (claimed by the senders)."""

    def claimed(self, claim: Claim) -> JSONDict | None:
        """The claimed delivery (with ``Kind``, ``Target``, ``Secret``), or None when the claim was lost."""

    def record_attempt(
        self,
        claim: Claim,
        *,
        delivered: bool,
        status_code: int | None,
        error: str | None,
        retry_at: float | None,
        now: float,
    ) -> bool:
        """Count one attempt of a claimed delivery; False when the claim was lost."""

    def list_deliveries(
        self, subscription_id: str, *, limit: int | None = None, after: int | None = None
    ) -> tuple[list[JSONDict], int | None]:
        """A page of a subscription's delivery log (oldest first) and the next page's token."""


def classify(event: JSONDict) -> tuple[str, str, JSONDict] | None:
    """``(event type, status, detail)`` of a change-log event that is notified, else None."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return None
    if event.get("source") == WORKFLOW_EXECUTION:
        status = payload.get("Status")
        return (EXECUTION, status, payload) if isinstance(status, str) and status else None
    if event.get("source") == JOB_SOURCE:
        if payload.get("detail-type", "MediaConvert Job State Change") != "MediaConvert Job State Change":
            return None
        inner = payload.get("detail")
        detail: JSONDict = inner if isinstance(inner, dict) else payload
        status = detail.get("status")
        return (JOB, status, detail) if status in JOB_STATUSES and detail.get("jobId") else None
    return None


def validate(body: Any, *, email_enabled: bool, outbound: OutboundPolicy = STRICT) -> JSONDict:
    """A new subscription record from an API body, or :class:`InvalidError` naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidError('the body must be a JSON object such as {"Url": "https://example.com/hook"}')
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidError(f"unknown field(s) {', '.join(unknown)}; a subscription has {', '.join(sorted(_FIELDS))}")
    if ("Url" in body) == ("Email" in body):
        raise InvalidError("give exactly one of Url (a webhook) or Email (an e-mail address)")
    record: JSONDict = {"Id": uuid.uuid4().hex, "Created": time.time()}
    if "Url" in body:
        record.update(Kind="webhook", Url=check_url(body["Url"], outbound))
        secret = body.get("Secret")
        if secret is None:
            secret = secrets.token_hex(32)
        elif not isinstance(secret, str) or not 16 <= len(secret) <= 256:
            raise InvalidError("Secret must be a string of 16 to 256 characters (omit it to get a generated one)")
        record["Secret"] = secret
        default_events: list[str] = list(EVENT_TYPES)
    else:
        if "Secret" in body:
            raise InvalidError("Secret is for webhooks (Url); e-mail is not signed")
        record.update(Kind="email", Email=mail.check_email(body["Email"]))
        if not email_enabled:
            raise InvalidError("e-mail notifications are not configured on this server: set MIE_SMTP_HOST")
        default_events = [JOB]
    events = body.get("Events", default_events)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidError(f"Events must be a non-empty list of {' and/or '.join(EVENT_TYPES)}")
    wrong = [e for e in events if e.lower() not in EVENT_TYPES]
    if wrong:
        raise InvalidError(f"unknown event type(s) {', '.join(map(repr, wrong))}; use {' and/or '.join(EVENT_TYPES)}")
    record["Events"] = [t for t in EVENT_TYPES if t in {e.lower() for e in events}]
    statuses = body.get("Statuses")
    if statuses is not None:
        if not isinstance(statuses, list) or not statuses or not all(isinstance(s, str) for s in statuses):
            raise InvalidError("Statuses must be a non-empty list of status names (omit it to get every status)")
        known = (EXECUTION_STATUSES if EXECUTION in record["Events"] else ()) + (
            JOB_STATUSES if JOB in record["Events"] else ()
        )
        wrong = [s for s in statuses if s.lower() not in {k.lower() for k in known}]
        if wrong:
            raise InvalidError(
                f"unknown status(es) {', '.join(map(repr, wrong))} for events {', '.join(record['Events'])}; "
                f"use {', '.join(known)}"
            )
    record["Statuses"] = statuses
    return record


_ORDER = ("Id", "Kind", "Url", "Email", "Events", "Statuses", "Created", "FromSeq")


def public(record: JSONDict) -> JSONDict:
    """A subscription as the API shows it (never its secret)."""
    return {k: record[k] for k in _ORDER if k in record}


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Notifications:
    """The notifications component: the API's service, the planning consumer and the sender threads."""

    def __init__(
        self,
        settings: NotifySettings,
        changes: ChangeLog,
        store: NotificationStore,
        offsets: OffsetStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._changes = changes
        self._store = store
        self._clock = clock
        self.consumer = ChangeConsumer(
            CONSUMER_NAME, changes, offsets, self.plan, sources={WORKFLOW_EXECUTION, JOB_SOURCE}, start_at="end"
        )
        self._offsets = offsets
        self._webhooks = WebhookSender(settings.timeout, settings.outbound)
        self._lock = threading.Lock()
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self.senders = CallbackLoop(
            "notify",
            self._send_step,
            threads=max(settings.workers, 1),
            backoff=2.0,
            stop_timeout=settings.timeout * 3 + 1,
        )
        self._started = False

    @classmethod
    def create(
        cls, settings: Settings, changes: ChangeLog, store: NotificationStore, offsets: OffsetStore
    ) -> Notifications:
        """The component for the server's settings (``MIE_NOTIFY_*``, ``MIE_SMTP_*``)."""
        return cls(NotifySettings.from_settings(settings), changes, store, offsets)

    # Lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the senders, and the consumer when there is a subscription (else it starts with the first)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            if self._webhooks.closed:
                self._webhooks = WebhookSender(self.settings.timeout, self.settings.outbound)
            if self.settings.workers > 0:
                self.senders.start()
            # No subscription, no consumer: a server without notifications follows nothing.
            if self._store.has_subscriptions():
                self.consumer.start()

    def stop(self) -> None:
        """Stop planning and sending; a send in progress may take up to ``MIE_NOTIFY_TIMEOUT``."""
        with self._lock:
            self.consumer.stop()
            self.senders.stop()
            self._started = False
        self._webhooks.close()

    # The API's service ---------------------------------------------------------------------------------------

    def create_subscription(self, body: Any) -> JSONDict:
        """Validate and store a subscription; returns it with its ``Secret`` (the only time it is shown).

        The subscription hears every notified event logged after ``FromSeq`` (the newest event when it was
        created). The consumer may have listed the subscriptions just before this one was stored, while handling
        such events: those are planned here for this subscription (planning is idempotent, so events the consumer
        plans as well are not sent twice).
        """
        record = validate(body, email_enabled=self.settings.smtp is not None, outbound=self.settings.outbound)
        with self._lock:
            record["FromSeq"] = self._changes.last_seq()
            follow = self._started and not self.consumer.running
            if follow:
                # Nobody followed the log while there was no subscription: start after what is logged already.
                self._offsets.save(CONSUMER_NAME, record["FromSeq"])
            self._store.add_subscription(record)
            if follow:
                self.consumer.start()
        after, until = int(record["FromSeq"]), self._changes.last_seq()
        while after < until:
            events = self._changes.read(after, limit=500)
            if not events:
                break
            self.plan([e for e in events if int(e["seq"]) <= until], [record])
            after = int(events[-1]["seq"])
        return {**public(record), "Secret": record.get("Secret")} if record["Kind"] == "webhook" else public(record)

    def list_subscriptions(self, *, limit: int | None, after: int | None) -> tuple[list[JSONDict], int | None]:
        """A page of subscriptions, oldest first."""
        items, token = self._store.list_subscriptions(limit=limit, after=after)
        return [public(i) for i in items], token

    def get_subscription(self, subscription_id: str) -> JSONDict:
        """One subscription; :class:`NotFoundError` when unknown."""
        record = self._store.get_subscription(subscription_id)
        if record is None:
            raise NotFoundError(f"notification subscription '{subscription_id}' not found")
        return public(record)

    def delete_subscription(self, subscription_id: str) -> JSONDict:
        """Delete a subscription and its delivery log; returns what was deleted."""
        record = self.get_subscription(subscription_id)
        if not self._store.delete_subscription(subscription_id):
            raise NotFoundError(f"notification subscription '{subscription_id}' not found")
        return record

    def deliveries(
        self, subscription_id: str, *, limit: int | None, after: int | None
    ) -> tuple[list[JSONDict], int | None]:
        """A page of a subscription's delivery log, oldest first."""
        self.get_subscription(subscription_id)
        return self._store.list_deliveries(subscription_id, limit=limit, after=after)

    # Planning (the consumer's handler) -----------------------------------------------------------------------

    def plan(self, events: list[JSONDict], subscriptions: list[JSONDict] | None = None) -> None:
        """Plan a delivery per notified event and matching subscription (idempotent), then wake the senders."""
        notified = [(e, c) for e in events if (c := classify(e)) is not None]
        if not notified:
            return
        if subscriptions is None:
            subscriptions, _ = self._store.list_subscriptions()
        planned = [
            self._delivery(sub, event, kind, status, detail)
            for event, (kind, status, detail) in notified
            for sub in subscriptions
            if _matches(sub, event, kind, status)
        ]
        if self._store.add_deliveries(planned):
            self.senders.wake()

    def _delivery(self, sub: JSONDict, event: JSONDict, kind: str, status: str, detail: JSONDict) -> JSONDict:
        seq = int(event["seq"])
        delivery_id = uuid.uuid5(_NAMESPACE, f"{sub['Id']}:{seq}").hex
        base = self.settings.public_url
        if kind == JOB:
            job_id = str(detail.get("jobId"))
            text = mail.job_text(detail, base)
            subject = f"MIE job {job_id} finished with status {status}"
            ids: JSONDict = {"JobId": job_id}
        else:
            text = mail.execution_text(detail, base)
            subject = f"MIE workflow execution {detail.get('Id')} is {status}"
            ids = {"ExecutionId": detail.get("Id")}
        payload: JSONDict
        if sub["Kind"] == "email":
            payload = {"Subject": subject, "Text": text}
        else:
            payload = {
                "Id": delivery_id,
                "SubscriptionId": sub["Id"],
                "Event": kind,
                "Status": status,
                **ids,
                "AssetId": event.get("AssetId"),
                "Seq": seq,
                "Time": _iso(float(event["created"])),
                "Message": text,
                "Detail": event["payload"],
            }
        return {
            "Id": delivery_id,
            "SubscriptionId": sub["Id"],
            "Seq": seq,
            "Event": kind,
            "Status": status,
            "Payload": payload,
            "Created": self._clock(),
        }

    # Sending -------------------------------------------------------------------------------------------------

    def _send_step(self) -> float | None:
        """One sender step: send a due delivery, else sleep until the next retry is due (or one is planned)."""
        if self.deliver_once():
            return 0.0
        due = self._store.queue.next_due()
        # Never spin on a due delivery that another sender holds: at least 50 ms.
        return None if due is None else min(max(due - self._clock(), 0.05), 60.0)

    def deliver_once(self) -> bool:
        """Send one due delivery, if any, and record the attempt; returns whether there was one."""
        now = self._clock()
        lease = self.settings.timeout * 3 + 30
        claim = self._store.queue.claim(self._owner, now=now, lease=lease)
        if claim is None:
            return False
        item = self._store.claimed(claim)
        if item is None:
            return True  # lost already (its subscription was deleted meanwhile): look for the next one
        payload = item["Payload"]
        if item["Kind"] == "webhook":
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            outcome = self._webhooks.post(
                item["Target"], body, secret=item["Secret"], delivery_id=item["Id"], event=item["Event"], now=now
            )
        elif item["Kind"] == "email":
            outcome = mail.send(
                self.settings.smtp, item["Target"], payload["Subject"], payload["Text"], delivery_id=item["Id"]
            )
        else:
            outcome = Outcome(False, None, f"unknown subscription kind {item['Kind']!r}")
        attempts = claim.attempt
        done = self._clock()
        retry_at = None
        if not outcome.delivered and attempts < self.settings.attempts:
            retry_at = done + self.settings.retry_delay(attempts)
        if not outcome.delivered:
            log.warning(
                "notification %s to %s failed (attempt %d of %d): %s%s",
                item["Id"], item["Target"], attempts, self.settings.attempts, outcome.error,
                "" if retry_at is not None else "; giving up",
            )  # fmt: skip
        self._store.record_attempt(
            claim,
            delivered=outcome.delivered,
            status_code=outcome.status_code,
            error=outcome.error,
            retry_at=retry_at,
            now=done,
        )
        return True


def _matches(sub: JSONDict, event: JSONDict, kind: str, status: str) -> bool:
    if kind not in sub["Events"]:
        return False
    statuses = sub.get("Statuses")
    if statuses is not None and status.lower() not in {s.lower() for s in statuses}:
        return False
    # A subscription hears only what is logged after it was created.
    return int(event["seq"]) > int(sub["FromSeq"])
