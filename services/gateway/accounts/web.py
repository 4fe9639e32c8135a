"""App wiring of accounts: CSRF on every state change a session cookie authenticates, ``current_user`` in
every template."""

from __future__ import annotations

import secrets

import structlog
from jinja2 import Template as JinjaTemplate
from litestar.config.csrf import CSRFConfig
from litestar.middleware.csrf import CSRFMiddleware

log = structlog.get_logger()
# routes authenticated by an API key or a shared secret, never by the session cookie
CSRF_EXCLUDE = [r"^/api/v1/ingest", r"^/api/v1/admin/", r"^/api/v1/inbound-mail",
                r"^/alertes/desabonnement/"]  # the signed token decides (RFC 8058 one-click from mail clients)


def csrf_config(cfg) -> CSRFConfig:
    secret = cfg.secret_key
    if not secret:
        secret = secrets.token_hex(32)
        log.info("no SECRET_KEY set: CSRF tokens signed with a per-process secret (set one for several replicas)")
    return CSRFConfig(secret=secret, cookie_secure=cfg.session_cookie_secure is True, cookie_samesite="lax",
                      exclude=CSRF_EXCLUDE)


def _unguarded_read(scope) -> bool:
    return scope.get("method") in ("GET", "HEAD") and scope.get("path", "").startswith("/api/")


def csrf_middleware(config: CSRFConfig):
    """Litestar's CSRF middleware on every request but reads of the JSON API (GET/HEAD under /api/:
    nothing to protect, and their public, cacheable answers must not carry a Set-Cookie — the pages
    set the token) and the routes of CSRF_EXCLUDE, which an API key or shared secret authenticates
    and a session never opens. An X-API-Key or Authorization header elsewhere changes nothing: the
    session cookie still authenticates such a request, so it still needs the token."""

    def factory(app):
        csrf = CSRFMiddleware(app=app, config=config)

        async def middleware(scope, receive, send):
            if scope["type"] == "http" and _unguarded_read(scope):
                await app(scope, receive, send)
                return
            await csrf(scope, receive, send)

        return middleware

    return factory


class UserAwareTemplate(JinjaTemplate):
    """Puts ``current_user`` (the request's logged-in user, or None) into every template's context."""

    def render(self, *args, **kwargs):
        ctx = dict(*args, **kwargs)
        if "current_user" not in ctx:
            request = ctx.get("request")
            state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
            ctx["current_user"] = state.get("user")
        return super().render(ctx)


def template_engine_callback(engine) -> None:
    engine.engine.template_class = UserAwareTemplate


__all__ = ["CSRF_EXCLUDE", "csrf_config", "csrf_middleware", "template_engine_callback"]
