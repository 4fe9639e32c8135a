"""App wiring of accounts: CSRF (except for API-key requests), ``current_user`` in every template."""

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
API_KEY_HEADERS = (b"x-api-key",)


def csrf_config(cfg) -> CSRFConfig:
    secret = cfg.secret_key
    if not secret:
        secret = secrets.token_hex(32)
        log.info("no SECRET_KEY set: CSRF tokens signed with a per-process secret (set one for several replicas)")
    return CSRFConfig(secret=secret, cookie_secure=cfg.session_cookie_secure is True, cookie_samesite="lax",
                      exclude=CSRF_EXCLUDE)


def _api_key_request(scope) -> bool:
    for name, value in scope.get("headers") or []:
        if name in API_KEY_HEADERS and value:
            return True
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return True
    return False


def csrf_middleware(config: CSRFConfig):
    """Litestar's CSRF middleware, bypassed for requests that present an API key (X-API-Key or
    Authorization: Bearer): those are not sent by a browser on a visitor's behalf, and a custom header
    cannot be added cross-site without CORS approval. Also bypassed for reads of the JSON API
    (GET/HEAD under /api/): nothing to protect, and its public, cacheable answers must not carry
    a Set-Cookie (a shared cache would store or refuse them; the pages set the token)."""

    def factory(app):
        csrf = CSRFMiddleware(app=app, config=config)

        async def middleware(scope, receive, send):
            if scope["type"] == "http" and (_api_key_request(scope) or (
                    scope.get("method") in ("GET", "HEAD") and scope.get("path", "").startswith("/api/"))):
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
