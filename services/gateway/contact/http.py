"""Shared by the contact API and pages: the request's context, client address, refusals as answers."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from litestar import Request, Response
from litestar.params import Parameter

from services.gateway.accounts.audit import audit
from services.gateway.accounts.identity import (
    current_user,
    require_login,
    require_role,
)
from services.gateway.contact import store
from services.gateway.contact.service import (
    ContactError,
    Ctx,
    ctx_from_state,
    party_of,
)

log = structlog.get_logger()
MAX_INBOUND_BYTES = 1024 * 1024
KINDS = {"projet": "project", "annonce": "post"}
MODERATOR = [require_role("moderator")]
LOGIN = [require_login]
Id = Annotated[int, Parameter(ge=1, le=2**62)]


def request_ctx(request: Request) -> Ctx:
    return ctx_from_state(request.app.state, str(request.base_url))


def ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def error(exc: ContactError) -> Response:
    return Response({"status_code": exc.status, "detail": exc.message, "errors": exc.errors}, status_code=exc.status)


async def party_conversation(request: Request, conversation_id: int) -> tuple[dict[str, Any], str]:
    """The conversation and the logged-in user's role in it; 404 unknown, 403 not a party."""
    async with request.app.state.engine.connect() as conn:
        conv = await store.conversation(conn, conversation_id)
    if conv is None:
        raise ContactError(404, "Conversation introuvable.")
    role = party_of(conv, await current_user(request))
    if role is None:
        raise ContactError(403, "Cette conversation ne vous concerne pas.")
    return conv, role


async def moderate(request: Request, message_id: int, hidden: bool) -> bool:
    user = await current_user(request)
    async with request.app.state.engine.begin() as conn:
        done = await store.set_hidden(conn, message_id, hidden, user.id)
        if done:
            await audit(conn, user.id, "contact.message." + ("hide" if hidden else "unhide"),
                        f"contact_message:{message_id}")
    if done:
        log.info("contact message moderated", message_id=message_id, hidden=hidden, moderator=user.id)
    return done
