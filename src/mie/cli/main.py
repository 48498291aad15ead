"""``mie``: thin commands that parse arguments, call the composition root and print."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import mie
from mie.cli.config_view import render_settings
from mie.cli.faces import faces_app
from mie.cli.jobs import job_app
from mie.cli.notifications import notification_app
from mie.cli.people import people_app
from mie.cli.resources import asset_app, execution_app, operator_app, workflow_app
from mie.cli.run import run as run_command
from mie.cli.search import index_app
from mie.cli.search import search as search_command
from mie.config import Settings, load_settings
from mie.errors import MieError

app = typer.Typer(
    help=(
        "Media Insights Engine: MIE's workflow and data-plane APIs, self-hosted.\n\n"
        "`mie serve` runs the server; the other commands talk to it over HTTP (--url / MIE_URL, default "
        "http://127.0.0.1:8080) with its API key (--api-key / MIE_API_KEY / <data-dir>/api-key)."
    ),
    no_args_is_help=True,
    add_completion=False,
)
app.command("run", rich_help_panel="Analyse media")(run_command)
app.command("search", rich_help_panel="Analyse media")(search_command)
app.add_typer(index_app, name="index", rich_help_panel="Server")
app.add_typer(asset_app, name="asset", rich_help_panel="Records")
app.add_typer(execution_app, name="execution", rich_help_panel="Records")
app.add_typer(operator_app, name="operator", rich_help_panel="Records")
app.add_typer(workflow_app, name="workflow", rich_help_panel="Records")
app.add_typer(notification_app, name="notification", rich_help_panel="Records")
app.add_typer(faces_app, name="faces", rich_help_panel="Records")
app.add_typer(people_app, name="people", rich_help_panel="Records")
app.add_typer(job_app, name="job", rich_help_panel="Records")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="where the database and objects live \\[env MIE_DATA_DIR; default ./mie-data]"),
]


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except MieError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


@app.command(rich_help_panel="Server")
def version() -> None:
    """Print the engine and API versions."""
    console.print(f"mie {mie.__version__} (workflow API {mie.API_VERSION}, data plane {mie.DATAPLANE_API_VERSION})")


@app.command(rich_help_panel="Server")
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on \\[default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on \\[default 8080]")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the API, the scheduler and the worker pool in one process (SQLite and a local folder by default)."""
    import uvicorn

    from mie.bootstrap import build

    settings = _settings(host=host, port=port, data_dir=data_dir)
    # Bind first: "serving" is printed only once the port is ours, and a taken port fails before any work starts.
    listener = _listen(settings.host, settings.port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        services = build(settings)
    except MieError as exc:
        listener.close()
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    if services.api_key_generated:
        key_file = settings.data_dir / "api-key"
        console.print(f"Generated an API key (kept in {key_file}); send it as 'x-api-key':")
        console.print(services.api_key, highlight=False, soft_wrap=True)
    services.start()
    console.print(
        f"mie {mie.__version__} serving http://{settings.host}:{settings.port}/api/ "
        f"(data in {settings.data_dir.resolve()}); web UI: http://{settings.host}:{settings.port}/",
        highlight=False,
    )
    config = uvicorn.Config(
        services.app(),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="off",
        access_log=False,
    )
    server = uvicorn.Server(config)
    # Once uvicorn has shut down after SIGINT/SIGTERM it re-raises the signal to the handler that was installed
    # before it ran; with the default handlers that would kill the process before the services stop (exit -15,
    # scheduler not stopped). Absorb that one re-raised signal, stop the services, and exit 0.
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        services.stop()
    console.print("mie stopped")


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to serve on; exit 1 with a clear message when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror or exc}", highlight=False)
        raise typer.Exit(1) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        hint = (
            " (another mie serve, or another program, uses it): stop it or pick another port with --port / MIE_PORT"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {why}{hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    sock.set_inheritable(True)
    return sock


@app.command(rich_help_panel="Server")
def migrate(data_dir: DataDir = None) -> None:
    """Create or upgrade the database schema, then exit."""
    from mie.storage.sql.db import Database

    settings = _settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    Database(settings.effective_database_url).migrate()
    console.print("database is up to date")


@app.command(rich_help_panel="Server")
def watch(
    directory: Annotated[Path, typer.Argument(help="the watch folder (inputs/ and jobs/ inside)")],
    data_dir: DataDir = None,
) -> None:
    """Run the watch folder and the transcode job workers alone (no HTTP server) until Ctrl-C."""
    import threading

    from mie.bootstrap import build

    settings = _settings(data_dir=data_dir, watch_dir=directory.resolve(), watch_enabled=True)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        services = build(settings)
    except MieError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    services.start()
    console.print(f"mie watching {directory.resolve()}/inputs (data in {settings.data_dir.resolve()})", highlight=False)
    try:
        done.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        services.stop()
    console.print("mie stopped")


@app.command("config", rich_help_panel="Server")
def show_config(data_dir: DataDir = None) -> None:
    """Print every effective setting by section, with where its value came from (secrets are masked)."""
    settings = _settings(data_dir=data_dir)
    for line in render_settings(settings):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``mie`` script."""
    app()


if __name__ == "__main__":
    main()
