"""The durable work queue: the one interface behind transcode jobs and notification deliveries (and, later, the
engine's tasks).

An item is *pending* until a worker claims it. A claim is a **lease**: the item is the worker's until
``lease_until`` (or, with ``lease=None``, until the worker gives it back: a queue whose items are taken back at
start-up by the one server that runs them), and every later call names the claim, so a worker whose lease expired
and was claimed by another cannot complete or reschedule the new owner's work (the update matches nothing and
returns False). An item ends :meth:`complete`\\ d, or goes back with :meth:`retry` (due after a delay) or
:meth:`release` (due now).

* **Due time.** A pending item is claimable once its due time has come; :meth:`next_due` tells a sleeping worker when
  to wake up for the earliest one.
* **Attempts.** ``Claim.attempt`` numbers this attempt (1 for the first). Whether a lease that expired counts as
  an attempt is the queue's choice (``counts_on_claim`` of the SQL queue): jobs count claims (a job that kills its
  server is not run for ever), deliveries count attempts that reached the receiver.
* **Idempotent enqueue.** :meth:`enqueue` with a key that exists already does nothing and returns False, so a
  producer that runs twice (at-least-once execution) queues its work once.

Implementations: :class:`mie.storage.sql.workqueue.SqlWorkQueue` (a table of the SQL store, parameterised by its
columns). Waking the workers is not the queue's business: producers call the consuming loop's ``wake``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mie.types import JSONDict


@dataclass(frozen=True)
class Claim:
    """A leased item: which one, whose lease, until when, and which attempt this is."""

    item_id: str
    owner: str
    attempt: int
    #: Epoch seconds the lease ends; None: held until completed, retried or released.
    lease_until: float | None


class WorkQueue(Protocol):
    """Enqueue, claim with a lease, renew, complete, retry after a delay (see the module doc)."""

    def enqueue(self, key: str, fields: JSONDict, *, due: float | None = None) -> bool:
        """Add an item under ``key`` (due at ``due``, else now); False when ``key`` is queued already."""

    def claim(self, owner: str, *, now: float, lease: float | None) -> Claim | None:
        """Lease the first due item to ``owner`` for ``lease`` seconds (None: until given back), or None."""

    def renew(self, claim: Claim, *, now: float, lease: float) -> Claim | None:
        """Extend a lease that is still ``claim``'s; the new claim, or None when it was lost."""

    def complete(self, claim: Claim) -> bool:
        """End the item (done); False when the lease was lost."""

    def retry(self, claim: Claim, *, at: float) -> bool:
        """Give the item back, due at ``at``; False when the lease was lost."""

    def release(self, claim: Claim) -> bool:
        """Give the item back, due now, as if this attempt had not happened; False when the lease was lost."""

    def next_due(self) -> float | None:
        """When the earliest pending item is due (or its lease ends), or None when nothing is pending."""

    def requeue_leased(self) -> int:
        """Give back every leased item, however long its lease (start-up of the one server that owns the queue)."""
