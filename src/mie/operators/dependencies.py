"""Optional dependencies of operators: one error that names what is missing and what to install, and the import
that raises it.

Operators import their heavy libraries (OpenCV, spaCy, faster-whisper...) when they run, so the engine starts
without them; a run without them fails with this error, never with a bare ``ImportError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mie.errors import OperatorError


class MissingDependencyError(OperatorError):
    """``what`` is not installed; ``install`` says how to get it (a pip extra, a Debian package).

    The message reads ``"<needed_by> needs <what>, which is not installed (<cause>): <install>"``, or
    ``"<what> is not installed (<cause>): <install>"`` without ``needed_by``; the cause (the ImportError, or a
    note such as "no apertium command") is left out when there is none.
    """

    def __init__(
        self, what: str, install: str, *, needed_by: str = "", cause: BaseException | str | None = None
    ) -> None:
        detail = f" ({cause})" if cause is not None else ""
        if needed_by:
            message = f"{needed_by} needs {what}, which is not installed{detail}: {install}"
        else:
            message = f"{what} is not installed{detail}: {install}"
        super().__init__(message)
        self.what = what
        self.install = install


def require_module(module: str, install: str, *, needed_by: str, what: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingDependencyError` (``what`` defaults to "the Python package
    '<module>'")."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(what or f"the Python package {module!r}", install, needed_by=needed_by) from exc
