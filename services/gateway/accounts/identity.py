"""Who is asking: the session cookie → ``User``; guards for routes; the login redirect of HTML pages.

- ``await current_user(connection)``: the logged-in user or None (cached on ``connection.state.user``);
- ``require_login`` (guard: 401 when anonymous), ``require_role(*roles)`` (guard factory: 401 when
  anonymous, 403 when the user has none of ``roles``; "operator" implies "moderator");
- ``login_redirect(request)``: a redirect to ``/connexion?next=<path>`` for pages that need a login;
- ``user_middleware``: loads the user before the handler so every template sees ``current_user``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect

from services.gateway.accounts import store
from services.gateway.accounts.domain import (
    ROLES,
    effective_roles,
    implied,
    safe_next,
    valid_token,
)

__all__ = ["ROLES", "SESSION_COOKIE", "User", "current_user", "login_redirect", "require_login", "require_role",
           "user_middleware"]

SESSION_COOKIE = "carrefour_session"
_LOADED = "_user_loaded"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    display_name: str
    roles: frozenset[str]  # a signed-up, verified account has "holder"; staff get more
    partner: str | None    # partner slug when "partner" in roles
    email_verified: bool

    def has(self, role: str) -> bool:
        """``operator`` implies ``moderator``."""
        return role in implied(self.roles)

    @classmethod
    def from_row(cls, row: Any) -> User:
        roles = effective_roles(row.roles or [], row.email_verified)
        return cls(id=row.id, email=row.email, display_name=row.display_name, roles=roles,
                   partner=row.partner if "partner" in roles else None, email_verified=row.email_verified)


def _session_token(connection: ASGIConnection) -> str | None:
    token = connection.cookies.get(SESSION_COOKIE)
    return token if valid_token(token) else None


async def current_user(connection: ASGIConnection) -> User | None:
    """The user of the session cookie (None when anonymous, expired or disabled); cached per request."""
    state = connection.scope.setdefault("state", {})
    if state.get(_LOADED):
        return state.get("user")
    user = None
    token = _session_token(connection)
    if token:
        async with connection.app.state.engine.begin() as conn:
            row = await store.session_user(conn, token)
        user = User.from_row(row) if row is not None else None
    state["user"], state[_LOADED] = user, True
    return user


async def require_login(connection: ASGIConnection, _handler: Any = None) -> None:
    """Guard: 401 when nobody is logged in."""
    if await current_user(connection) is None:
        raise NotAuthorizedException("login required")


def require_role(*roles: str):
    """Guard factory: 401 when anonymous, 403 when the user has none of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def guard(connection: ASGIConnection, _handler: Any = None) -> None:
        user = await current_user(connection)
        if user is None:
            raise NotAuthorizedException("login required")
        if not any(user.has(r) for r in roles):
            raise PermissionDeniedException(f"this needs the role {' or '.join(roles)}")

    guard.__name__ = "require_" + "_or_".join(roles)
    return guard


def login_redirect(request: ASGIConnection) -> Redirect:
    """For HTML pages that need a login: back to ``/connexion`` with the current path as ``next``."""
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return Redirect(f"/connexion?next={quote(safe_next(path, '/'), safe='')}", status_code=303)


def user_middleware(app):
    """Loads the user (when a session cookie is present) so templates get ``current_user``."""

    async def middleware(scope, receive, send):
        if scope["type"] == "http" and not scope.get("path", "").startswith("/static/"):
            connection: ASGIConnection = ASGIConnection(scope)
            if _session_token(connection):
                await current_user(connection)
            else:
                state = scope.setdefault("state", {})
                state.setdefault("user", None)
                state[_LOADED] = True
        await app(scope, receive, send)

    return middleware
