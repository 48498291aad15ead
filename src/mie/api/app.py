"""The ASGI application: routers, auth, CORS, the doubled-slash rule and error mapping."""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import mie
from mie import web
from mie.api import (
    dataplane,
    errors,
    faces,
    jobs,
    media,
    notifications,
    operators,
    people,
    schemas,
    search,
    transcribe,
    translate,
    workflow,
)
from mie.api.deps import ApiServices

_SLASHES = re.compile(r"/{2,}")

#: Routers of the feature APIs (jobs, media, search, notifications, service routes...), mounted after the core
#: ones: ``(router, prefix)``.
ROUTERS: tuple[tuple[APIRouter, str], ...] = (
    (transcribe.router, "/api/service/transcribe"),
    (translate.router, "/api/service/translate"),
    (faces.router, "/api/service/rekognition"),
    (notifications.router, "/api/notifications"),
    (media.router, "/api/media"),
    (people.router, "/api/people"),
    (search.router, "/api/search"),
    (jobs.router, "/api"),
)


class CollapseSlashes:
    """Serve ``/api//workflow`` as ``/api/workflow``: MIE clients join endpoint and path with an extra slash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                # SigV4 clients sign the path they sent, doubled slashes included (mie.api.sigv4).
                scope["mie.raw_path"] = raw
                scope["raw_path"] = re.sub(rb"/{2,}", b"/", raw)
        await self.app(scope, receive, send)


def create_app(services: ApiServices) -> FastAPI:
    """Build the app around already-started services."""
    app = FastAPI(
        title="Media Insights Engine",
        version=mie.__version__,
        description="MIE's workflow and data-plane APIs, self-hosted.",
        openapi_url="/api/openapi.json",
        # /api/docs is served by mie.web from vendored Swagger UI files (no CDN: it works offline).
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)
    mounted = (
        (workflow.public, "/api"),
        (dataplane.public, "/api/dataplane"),
        (dataplane.router, "/api/dataplane"),
        (workflow.router, "/api"),
        (operators.router, "/api"),
        *ROUTERS,
        (workflow.fallback, "/api"),
    )
    for router, prefix in mounted:
        app.include_router(router, prefix=prefix)
    schemas.install(app, mounted)  # request-body schemas and API-key security in /api/openapi.json

    # The web UI: pages at /, the offline API docs at /api/docs, static files at /static.
    web.install(app)

    origins = services.settings.cors_origin_list
    if origins:
        # Off by default: a page of another origin must not drive the API with a key it got hold of. The web UI is
        # served from the same origin and needs none.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token", "X-Api-Key"],
            expose_headers=["X-Next-Token", "Link", "Content-Range", "Accept-Ranges"],
        )
    app.add_middleware(CollapseSlashes)
    return app
