"""The data plane: assets, their media objects, per-operator metadata with pages and cursors, and the change log."""

from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane

__all__ = ["ChangeLog", "DataPlane"]
