"""Who may see the dashboard: a login with the staff password or the admin token, a signed session cookie, CSRF checks.

The session is a cookie holding who logged in (staff or admin, and the name they
gave for the booking history), when it expires and a random nonce, signed with
HMAC-SHA256 over ``BOT_DASHBOARD_SECRET`` (or a key made at start-up) and a hash
of the credential it was issued for: changing the password ends its sessions.
It is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the line's public URL is
https. Every form carries a CSRF token derived from the session (and a POST from
another origin is refused), so another site cannot make a logged-in browser
book or cancel. Wrong passwords are limited per client address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from bot.settings import Settings

COOKIE = "bot_dashboard"
# Wrong logins allowed per client address in FAILURE_WINDOW_SECS before it must wait.
MAX_FAILURES = 10
FAILURE_WINDOW_SECS = 600.0
NAME_LENGTH = 40


class LoginNeeded(Exception):
    """The request has no valid session: a page goes to the login form, anything else gets 401."""


class CsrfRefused(Exception):
    """A form posted without its session's CSRF token, or from another site."""


@dataclass(frozen=True)
class Staff:
    """Someone logged in to the dashboard."""

    role: str  # "staff" (the staff password) or "admin" (the admin token)
    name: str  # what they called themselves at login ("" if nothing)
    expires: float
    nonce: str

    @property
    def label(self) -> str:
        """Who made a change, for the booking history and a message's "done"."""
        return f"{self.role}: {self.name}" if self.name else self.role


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DashboardAuth:
    def __init__(self, settings: Settings):
        self._credentials = {
            role: secret
            for role, secret in (("staff", settings.staff_password), ("admin", settings.admin_token))
            if secret
        }
        self._key = (settings.dashboard_secret or secrets.token_urlsafe(32)).encode()
        self._lifetime = settings.dashboard_session_hours * 3600
        self.secure = bool(settings.public_url and settings.public_url.startswith("https://"))
        self._public_host = urlsplit(settings.public_url).netloc if settings.public_url else None
        self._failures: dict[str, list[float]] = {}
        self._ended: set[str] = set()  # nonces of sessions logged out before they expired

    @property
    def enabled(self) -> bool:
        """Whether anyone can log in: BOT_STAFF_PASSWORD or BOT_ADMIN_TOKEN is set."""
        return bool(self._credentials)

    # Logging in

    def role_for(self, password: str) -> str | None:
        """The role ``password`` logs in as, or None. Every credential is compared, in constant time."""
        found = None
        for role, secret in self._credentials.items():
            if hmac.compare_digest(password.encode(), secret.encode()):
                found = found or role
        return found

    def locked_out(self, client: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if now - t < FAILURE_WINDOW_SECS]
        self._failures[client] = recent
        return len(recent) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        self._failures.setdefault(client, []).append(time.monotonic())

    def issue(self, response: Response, role: str, name: str) -> None:
        """Log the browser in: set its session cookie."""
        payload = {"role": role, "name": name[:NAME_LENGTH], "exp": time.time() + self._lifetime,
                   "nonce": secrets.token_urlsafe(12)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        response.set_cookie(
            COOKIE, f"{body}.{self._sign(body, role)}", max_age=int(self._lifetime), httponly=True,
            samesite="lax", secure=self.secure, path="/dashboard",
        )

    def end(self, response: Response, staff: Staff | None) -> None:
        if staff:
            self._ended.add(staff.nonce)
        response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="lax", secure=self.secure)

    def _sign(self, body: str, role: str) -> str:
        credential = hashlib.sha256(self._credentials.get(role, "").encode()).hexdigest()
        return _b64(hmac.new(self._key, f"{body}.{role}.{credential}".encode(), hashlib.sha256).digest())

    # Every request

    def session(self, request: Request) -> Staff | None:
        """The logged-in staff member of this request, or None."""
        cookie = request.cookies.get(COOKIE, "")
        body, _, signature = cookie.partition(".")
        if not (body and signature):
            return None
        try:
            payload = json.loads(_unb64(body))
            role = str(payload["role"])
            staff = Staff(role, str(payload.get("name", "")), float(payload["exp"]), str(payload["nonce"]))
        except (ValueError, KeyError, TypeError):
            return None
        if role not in self._credentials or not hmac.compare_digest(signature, self._sign(body, role)):
            return None
        if staff.expires < time.time() or staff.nonce in self._ended:
            return None
        return staff

    def require(self, request: Request) -> Staff:
        staff = self.session(request)
        if staff is None:
            raise LoginNeeded()
        return staff

    def csrf_token(self, staff: Staff) -> str:
        return _b64(hmac.new(self._key, f"csrf.{staff.nonce}".encode(), hashlib.sha256).digest())[:32]

    def same_origin(self, request: Request) -> bool:
        """A browser's POST names its page's origin; it must be this server (or its public URL)."""
        origin = request.headers.get("origin")
        if not origin:  # not sent by every browser for same-origin posts: the CSRF token still guards them
            return True
        host = urlsplit(origin).netloc
        return host in {request.headers.get("host"), self._public_host} - {None}

    def check_form(self, request: Request, staff: Staff, form_token: str | None) -> None:
        if not self.same_origin(request) or not hmac.compare_digest(form_token or "", self.csrf_token(staff)):
            raise CsrfRefused()
