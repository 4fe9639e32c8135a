"""The moderators' deduplication page (French): the waiting pairs side by side with why the
matcher hesitated, and the two decisions; plus the queue as JSON for tools."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Litestar, MediaType, Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from libs.contracts.dedup_events import DedupPairsChanged
from libs.contracts.topics import DEDUP_PAIRS
from services.gateway.accounts.identity import (
    current_user,
    login_redirect,
    require_role,
)
from services.gateway.moderation import rules, service
from services.gateway.web.subscribers import subscriber_lifespan

NO_STORE = {"cache-control": "no-store"}
PATH = "/moderation/doublons"


def _page(status: int = 200, **context: Any) -> Template:
    return Template("moderation/doublons.html", context=context, status_code=status, headers=NO_STORE)


@get(PATH, media_type=MediaType.HTML, include_in_schema=False)
async def queue_page(request: Request, fait: Annotated[str | None, Parameter(max_length=20)] = None,
                     page: Annotated[int, Parameter(ge=1, le=10_000)] = 1) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.has("moderator"):
        return _page(403, forbidden=True, items=[], total=0, done=None, error=None, page=1)
    items, total = await service.queue(request.app.state.engine, page)
    return _page(items=items, total=total, done=rules.DONE.get(fait or ""), error=None, page=page,
                 forbidden=False, more=total > page * rules.PAGE_SIZE)


@post(f"{PATH}/decision", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def decide(request: Request) -> Template | Redirect:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.has("moderator"):
        return _page(403, forbidden=True, items=[], total=0, done=None, error=None, page=1)
    form = await request.form()
    field = lambda k: form.get(k) if isinstance(form.get(k), str) else None  # noqa: E731
    state = request.app.state
    try:
        await service.decide(state.engine, state.broker, user, field("record_a"), field("record_b"),
                             field("decision"), field("reason"))
    except (rules.DecisionError, service.NotFound) as exc:
        items, total = await service.queue(state.engine)
        return _page(400, items=items, total=total, done=None, error=str(exc), page=1, forbidden=False,
                     more=total > rules.PAGE_SIZE)
    return Redirect(f"{PATH}?fait={field('decision')}", status_code=303)


@get("/api/v1/moderation/dedup/queue", guards=[require_role("moderator")],
     summary="The deduplication review queue: pairs waiting for a moderator; moderator role")
async def api_queue(request: Request, page: Annotated[int, Parameter(ge=1, le=10_000)] = 1) -> dict[str, Any]:
    items, total = await service.queue(request.app.state.engine, page)
    return {"total": total, "page": page,
            "pairs": [{"record_a": i["a"]["key"], "record_b": i["b"]["key"], "weight": i["weight"],
                       "probability": i["probability"], "explanation": i["explanation"]} for i in items]}


async def _apply(app: Litestar, event: DedupPairsChanged) -> str:
    return await service.apply_pairs(app.state.engine, event)


_pairs_subscriber = subscriber_lifespan("dedup-pairs", DEDUP_PAIRS, DedupPairsChanged, _apply)


@asynccontextmanager
async def lifespan(app: Litestar):
    async with service.metric_refresher(lambda: app.state.engine), _pairs_subscriber(app):
        yield


routes = [queue_page, decide, api_queue]
