"""The interactive API docs at ``/docs``, with every asset served by the platform itself.

The platform runs in closed health networks, where a public CDN is unreachable (and a page that
loads script from one is a risk), so Swagger UI's script, style sheet and icon come from the
``fastapi-swagger`` distribution installed beside it, under ``/docs/assets/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from journalloft.platform.http.middleware import DOCS_ASSETS

ASSETS = Path(str(files("fastapi_swagger") / "resources"))


def install_docs(app: FastAPI) -> None:
    app.mount(DOCS_ASSETS.rstrip("/"), StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API docs",
            swagger_js_url=DOCS_ASSETS + "swagger-ui-bundle.js",
            swagger_css_url=DOCS_ASSETS + "swagger-ui.css",
            swagger_favicon_url=DOCS_ASSETS + "favicon-32x32.png",
        )
