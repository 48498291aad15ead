"""The web UI served by ``mie serve`` at ``/`` (DESIGN.md §1): server-rendered pages, a little vanilla JavaScript,
and every file they need served from here (nothing from the internet). See docs/ui.md."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from mie.web.base import PAGE_HEADERS, STATIC_DIR, SignInRequiredError, current_session, templates

#: Where the vendored Swagger UI is served from (same origin: /api/docs works offline).
SWAGGER_JS = "/static/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/vendor/swagger-ui/swagger-ui.css"
SWAGGER_ICON = "/static/vendor/swagger-ui/favicon-32x32.png"


def install(app: FastAPI) -> None:
    """Mount the static files, the offline API docs and the pages on ``app`` (after the API routers)."""
    from urllib.parse import quote

    from mie.web import admin, pages, people, stream

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        # FastAPI's get_swagger_ui_html cannot pass a request interceptor (a function), which "Try it out" needs
        # to send the session's CSRF token; so the page is a template of our own, on the same vendored files.
        found = current_session(request)
        context = {
            "title": f"{app.title} - API",
            "openapi_url": app.openapi_url or "/api/openapi.json",
            "js": SWAGGER_JS,
            "css": SWAGGER_CSS,
            "icon": SWAGGER_ICON,
            "csrf": found.csrf if found else "",
        }
        return templates.TemplateResponse(request, "docs.html", context, headers=PAGE_HEADERS)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Pages name their icon; a browser showing a bare API answer (JSON) asks for /favicon.ico instead.
        return FileResponse(STATIC_DIR / "vendor" / "swagger-ui" / "favicon-32x32.png", media_type="image/png")

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(_request: Request, exc: SignInRequiredError) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.target, safe='/')}", status_code=303)

    app.include_router(pages.router)
    app.include_router(people.router)
    app.include_router(admin.router)
    app.include_router(stream.router)
