"""API-key guards: partner keys (hashed in PostgreSQL) with scopes."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from services.gateway.partners.keys import ApiKey


def presented_key(connection: ASGIConnection) -> str:
    header = connection.headers.get("x-api-key") or ""
    auth = connection.headers.get("authorization") or ""
    return header or (auth[7:] if auth.lower().startswith("bearer ") else "")


def require_scope(scope: str):
    """A guard: a valid, unrevoked key with ``scope``; the key is put on ``connection.state.api_key``."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        key = presented_key(connection)
        if not key:
            raise NotAuthorizedException("an API key is required (header X-API-Key or Authorization: Bearer)")
        found: ApiKey | None = await connection.app.state.api_keys.verify(key)
        if found is None:
            raise NotAuthorizedException("unknown or revoked API key")
        if scope not in found.scopes:
            raise PermissionDeniedException(f"this API key has no {scope} scope")
        connection.state.api_key = found

    guard.__name__ = f"require_{scope}_scope"
    return guard
