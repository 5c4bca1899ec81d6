"""Adding the dashboard to the server's app: its pages, static files, and what a request without a login gets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles

from bot.call.live import ON_THE_LINE, LiveCalls

STATIC = Path(__file__).resolve().parent / "static"


def install_dashboard(
    app: FastAPI, *, registry: LiveCalls = ON_THE_LINE, clock: Callable[[], dt.datetime] = dt.datetime.now
) -> None:
    """Serve the dashboard from ``app`` (its ``state.settings`` and ``state.store``)."""
    from bot.dashboard.auth import CsrfRefused, DashboardAuth, LoginNeeded
    from bot.dashboard.routes import dashboard_router, login_redirect

    auth = DashboardAuth(app.state.settings)
    app.state.dashboard_auth = auth
    app.include_router(dashboard_router(app.state.settings, app.state.store, auth, registry, clock))
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, _error: LoginNeeded) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(login_redirect(request), status_code=303)
        return JSONResponse({"detail": "log in at /dashboard/login"}, status_code=401)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(_request: Request, _error: CsrfRefused) -> Response:
        return PlainTextResponse("This form has expired or came from another site: reload the page.", status_code=403)
