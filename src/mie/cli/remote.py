"""The options every command that talks to the server takes (``--url``, ``--api-key``, ``--data-dir``, and
usually ``--json``), declared once.

A command asks for them with one parameter, ``remote: Remote``, as its last parameter, and the :func:`connected`
decorator: typer then sees the options in place of that parameter (same flags, help and order as writing them
out), and the command gets them as one :class:`Remote`::

    @app.command("list")
    @guarded
    @connected()
    def things(remote: Remote = FROM_OPTIONS) -> None:
        with remote.client() as client:
            items = client.get("/api/things")
        if remote.show_json(items):
            return
        ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from mie.cli.client import (
    ApiKeyOption,
    Connection,
    DataDirOption,
    JsonOption,
    MieClient,
    UrlOption,
    for_each,
    out,
    print_json,
    resolve,
)

R = TypeVar("R")

#: The parameter a command declares to receive its connection options.
PARAMETER = "remote"


@dataclass(frozen=True)
class Remote:
    """What a command was told about the server (``--url``, ``--api-key``, ``--data-dir``) and ``--json``."""

    url: str | None = None
    api_key: str | None = None
    data_dir: Path | None = None
    #: ``--json`` (False for commands without the option).
    json: bool = False

    def connection(self) -> Connection:
        """Where the server is and which key to send (see :func:`mie.cli.client.resolve`)."""
        return resolve(self.url, self.api_key, self.data_dir)

    def client(self) -> MieClient:
        """A client for the server (use it as a context manager)."""
        return MieClient(self.connection())

    def show_json(self, value: Any) -> bool:
        """Print ``value`` as JSON when ``--json`` was given; True when it was (the command is then done)."""
        if self.json:
            print_json(value)
        return self.json

    def each(self, items: Iterable[str], call: Callable[[str], Any], say: Callable[[str, Any], str]) -> None:
        """Call ``call`` on every item and print ``say(item, answer)`` for each (with ``--json``: every answer, as
        one JSON list at the end). An API error is printed and the other items still go ahead; the command then
        exits 1."""
        answers: list[Any] = []

        def report(item: str, answer: Any) -> None:
            answers.append(answer)
            if not self.json:
                out.print(say(item, answer))

        failed = for_each(items, call, report)
        if self.json:
            print_json(answers)
        if failed:
            raise typer.Exit(1)


#: The default of a command's ``remote`` parameter (Python needs one after options with defaults); the
#: :func:`connected` wrapper always passes the options' real values instead.
FROM_OPTIONS = Remote()


def _options(with_json: bool) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    found = [inspect.Parameter("as_json", keyword, default=False, annotation=JsonOption)] if with_json else []
    return [
        *found,
        inspect.Parameter("url", keyword, default=None, annotation=UrlOption),
        inspect.Parameter("api_key", keyword, default=None, annotation=ApiKeyOption),
        inspect.Parameter("data_dir", keyword, default=None, annotation=DataDirOption),
    ]


def connected(*, json: bool = True) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Replace a command's last parameter ``remote: Remote`` by the ``--json`` (unless ``json=False``), ``--url``,
    ``--api-key`` and ``--data-dir`` options, and hand the command their values as one :class:`Remote`."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        if not params or params[-1].name != PARAMETER:
            raise TypeError(f"{command.__qualname__}: the last parameter must be `{PARAMETER}: Remote`")
        added = _options(json)
        names = [p.name for p in added]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> R:
            values = {name: kwargs.pop(name, None) for name in names}
            remote = Remote(
                url=values["url"],
                api_key=values["api_key"],
                data_dir=values["data_dir"],
                json=bool(values.get("as_json") or False),
            )
            return command(*args, **kwargs, **{PARAMETER: remote})

        # typer reads the signature (and the type hints) of the command: show it the options, not `remote`.
        wrapper.__signature__ = signature.replace(parameters=[*params[:-1], *added])  # type: ignore[attr-defined]
        hints = {k: v for k, v in getattr(command, "__annotations__", {}).items() if k != PARAMETER}
        wrapper.__annotations__ = {**hints, **{p.name: p.annotation for p in added}}
        return wrapper

    return decorate
