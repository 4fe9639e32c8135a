"""Shared by the accounts pages and API: settings, client address, form reading, pages, the session cookie."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.response import Response, Template

from services.gateway.accounts import domain
from services.gateway.accounts.identity import (
    SESSION_COOKIE,
    User,
)

log = structlog.get_logger()
MAX_FIELD = 1000
NO_STORE = CacheControlHeader(no_store=True)


# --------------------------------------------------------------------------- helpers


def settings_of(request: Request):
    return request.app.state.settings


def client_ip(request: Request) -> str:
    """The visitor's address, as resolved from trusted proxies' X-Forwarded-For (web/client_address.py)."""
    return (request.client.host if request.client else None) or "unknown"


def base_url(request: Request) -> str:
    return settings_of(request).public_base_url or str(request.base_url).rstrip("/")


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form's single values, bounded; a field too long is emptied (and so refused)."""
    form = await request.form()
    out: dict[str, str] = {}
    for key in form:
        value = form.get(key)
        ok = isinstance(value, str) and len(value) <= MAX_FIELD and "\x00" not in value
        out[key] = value if ok else ""
    return out


def page(name: str, status: int = 200, *, retry_after: int | None = None, **context: Any) -> Template:
    headers = {"cache-control": "no-store"}
    if retry_after is not None:
        headers["retry-after"] = str(max(int(retry_after), 1))
    return Template(f"accounts/{name}.html", context=context, status_code=status, headers=headers)


def set_session(response: Response, request: Request, token: str) -> Response:
    cfg = settings_of(request)
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="lax",
                        secure=domain.cookie_secure(cfg.session_cookie_secure, request.url.hostname or "",
                                                    request.url.scheme),
                        max_age=int(cfg.session_ttl_hours * 3600))
    return response


def clear_session(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "display_name": user.display_name, "roles": sorted(user.roles),
            "partner": user.partner, "email_verified": user.email_verified}
