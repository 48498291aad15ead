"""The web UI served by ``mie serve`` at ``/`` (DESIGN.md §1): server-rendered pages, a little vanilla JavaScript,
and every file they need served from here (nothing from the internet). See docs/ui.md."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from mie.web.base import STATIC_DIR, SignInRequiredError

#: Where the vendored Swagger UI is served from (same origin: /api/docs works offline).
SWAGGER_JS = "/static/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/vendor/swagger-ui/swagger-ui.css"
SWAGGER_ICON = "/static/vendor/swagger-ui/favicon-32x32.png"


def install(app: FastAPI) -> None:
    """Mount the static files, the offline API docs and the pages on ``app`` (after the API routers)."""
    from urllib.parse import quote

    from mie.web import admin, pages, stream

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=SWAGGER_ICON,
        )

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(_request: Request, exc: SignInRequiredError) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.target, safe='/')}", status_code=303)

    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(stream.router)
