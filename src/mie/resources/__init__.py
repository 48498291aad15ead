"""Service resources: what the ``/api/service/*`` routes create and the operators use.

Terminologies and parallel data (:mod:`mie.resources.translate`, read by the ``Translate`` operators through
:mod:`mie.resources.glossaries`), custom vocabularies (:mod:`mie.resources.vocabularies`, read by the
``Transcribe*`` operators) and the language-code table (:mod:`mie.resources.languages`). This layer sits below
both ``api`` and ``library`` (DESIGN.md §2), so that both use one copy of the formats, rules and tables; the
routers only parse requests and shape MIE's responses.
"""

from __future__ import annotations

from dataclasses import dataclass

from mie.resources.store import ResourceStore
from mie.resources.translate import TranslateResources
from mie.resources.vocabularies import Vocabularies
from mie.storage.objects import ObjectStore


@dataclass(frozen=True)
class ServiceResources:
    """The service resources of one engine, stored in the data-plane bucket."""

    store: ResourceStore
    translate: TranslateResources
    vocabularies: Vocabularies

    @classmethod
    def create(cls, objects: ObjectStore, bucket: str) -> ServiceResources:
        """The resources kept in ``bucket`` of ``objects`` (the data plane's store and bucket)."""
        store = ResourceStore(objects, bucket)
        return cls(store=store, translate=TranslateResources(store), vocabularies=Vocabularies(store))


__all__ = ["ResourceStore", "ServiceResources", "TranslateResources", "Vocabularies"]
