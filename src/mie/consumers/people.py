"""The people consumer: when an asset is deleted, its faces leave the people across the library.

It follows the data-plane change stream from its saved offset (``consumers/base.py``); a ``REMOVE`` of a whole
asset (no ``Operator``) drops the asset's faces (``People.forget_asset``: idempotent, so at-least-once delivery is
harmless). Unnamed people left with no face go with them; named ones stay, ready for the next photo of them.
"""

from __future__ import annotations

import logging

from mie.consumers.base import ChangeConsumer, OffsetStore
from mie.dataplane.changes import DATAPLANE, ChangeLog
from mie.storage.people import People
from mie.types import JSONDict

log = logging.getLogger(__name__)

CONSUMER_NAME = "people"


class PeopleJanitor:
    """The component (see :class:`mie.types.Component`)."""

    def __init__(self, people: People, changes: ChangeLog, offsets: OffsetStore) -> None:
        self.people = people
        self.consumer = ChangeConsumer(CONSUMER_NAME, changes, offsets, self.handle, sources={DATAPLANE})

    def handle(self, events: list[JSONDict]) -> None:
        """Forget the faces of every deleted asset in the batch."""
        for event in events:
            payload = event.get("payload") or {}
            if isinstance(payload, dict) and payload.get("Action") == "REMOVE" and not payload.get("Operator"):
                asset_id = str(event.get("AssetId") or "")
                if asset_id and self.people.forget_asset(asset_id):
                    log.info("asset %s was deleted: its faces left the people", asset_id)

    def start(self) -> None:
        """Follow the change stream."""
        self.consumer.start()

    def stop(self) -> None:
        """Stop following it."""
        self.consumer.stop()
