"""Crawl previews for operators: ``/operateur/apercus`` asks the crawler what a crawl of a partner
would emit, skip and reject — the configured partner, or a configuration to try (YAML) — and shows
the answer: every record with its fields and where each came from, every item set aside with its
rule and reason.

The gateway never runs the crawler's code nor reads its configuration: it stores the request in its
own table (``operator_previews``), publishes ``PreviewRequested`` on ``crawl.preview_requests.v1``,
and its subscriber (``lifespan``, consumer group ``gateway-previews``, see ``web/subscribers.py``) stores the crawler's
``PreviewCompleted`` from ``crawl.previews.v1``. The answer page shows « en cours » (and reloads
itself) until the answer is there. Operators only; forms carry the CSRF token.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import structlog
from faststream.kafka import KafkaBroker
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy import text

from libs.contracts.preview_events import (
    PREVIEW_CONFIG_CHARS,
    PREVIEW_MAX_PAGES,
    PreviewCompleted,
    PreviewRequested,
)
from libs.contracts.topics import CRAWL_PREVIEW_REQUESTS, CRAWL_PREVIEWS
from libs.runtime.messaging import publish
from services.gateway.accounts.identity import current_user
from services.gateway.partners.routes import SLUG, STATUS_LABELS, _operator
from services.gateway.web.subscribers import subscriber_lifespan

log = structlog.get_logger()
PATH = "/operateur/apercus"
REQUEST_ID = re.compile(r"^[a-f0-9]{32}$")
DEFAULT_PAGES = 20
STALE_AFTER_S = 300
"""A request still unanswered after this: the page stops reloading and says the crawler may be down
(the crawler answers every request, an error included, within its 3-minute limit)."""
LABELS = {**STATUS_LABELS, "pending": "en cours", "error": "impossible"}
VERDICTS = {"skipped": "écarté", "rejected": "rejeté", "emitted": "publié avec une perte"}


def _form_page(context: dict[str, Any], status_code: int = 200) -> Template:
    return Template("partners/apercu_form.html", status_code=status_code, headers={"cache-control": "no-store"},
                    context={"max_pages_limit": PREVIEW_MAX_PAGES, "config_limit": PREVIEW_CONFIG_CHARS,
                             "labels": LABELS, **context})


async def _recent(request: Request, limit: int = 20) -> list[dict[str, Any]]:
    async with request.app.state.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, partner, requested_at, status, config_yaml IS NOT NULL AS tried FROM operator_previews "
            "ORDER BY requested_at DESC LIMIT :n"), {"n": limit})).mappings().all()
    return [dict(r) for r in rows]


@get(PATH, media_type=MediaType.HTML, include_in_schema=False)
async def preview_form(request: Request,
                       partenaire: Annotated[str | None, Parameter(max_length=64)] = None) -> Response:
    denied = await _operator(request)
    if denied:
        return denied
    slug = partenaire if partenaire and SLUG.match(partenaire) else ""
    return _form_page({"slug": slug, "config": "", "max_pages": DEFAULT_PAGES, "recent": await _recent(request)})


@post(PATH, media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def ask_preview(request: Request) -> Response:
    denied = await _operator(request)
    if denied:
        return denied
    form = await request.form()
    field = lambda k: form.get(k) if isinstance(form.get(k), str) else ""  # noqa: E731
    slug, config, pages = field("partner").strip(), field("config").replace("\r\n", "\n"), field("max_pages").strip()
    problems = []
    if not SLUG.match(slug):
        problems.append("Identifiant de partenaire invalide (minuscules, chiffres et tirets).")
    if len(config) > PREVIEW_CONFIG_CHARS:
        problems.append(f"Configuration trop longue ({len(config)} caractères, {PREVIEW_CONFIG_CHARS} au plus).")
    max_pages = int(pages) if pages.isdigit() else 0
    if not 1 <= max_pages <= PREVIEW_MAX_PAGES:
        problems.append(f"Nombre de requêtes entre 1 et {PREVIEW_MAX_PAGES}.")
    if problems:
        return _form_page({"slug": slug, "config": config[:PREVIEW_CONFIG_CHARS], "max_pages": pages[:4],
                           "problems": problems, "recent": await _recent(request)}, status_code=400)
    user = await current_user(request)
    user_id = user.id if user else None
    request_id = uuid.uuid4().hex
    ask = PreviewRequested(request_id=request_id, partner=slug, config_yaml=config.strip() or None,
                           max_pages=max_pages, requested_by=f"user#{user_id}" if user_id else None)
    async with request.app.state.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO operator_previews (id, partner, requested_by, config_yaml, max_pages) "
            "VALUES (:id, :p, :u, :c, :n)"), {"id": request_id, "p": slug, "u": user_id, "c": ask.config_yaml,
                                              "n": max_pages})
    broker: KafkaBroker = request.app.state.broker
    await publish(broker, CRAWL_PREVIEW_REQUESTS, ask, key=request_id)
    log.info("preview requested", partner=slug, request_id=request_id, tried=ask.config_yaml is not None,
             correlation_id=ask.correlation_id)
    return Redirect(f"{PATH}/{request_id}", status_code=303)


@get(f"{PATH}/{{request_id:str}}", media_type=MediaType.HTML, include_in_schema=False)
async def preview_page(request: Request, request_id: str) -> Response:
    denied = await _operator(request)
    if denied:
        return denied
    row = None
    if REQUEST_ID.match(request_id):
        async with request.app.state.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT id, partner, requested_at, answered_at, config_yaml, max_pages, status, result "
                "FROM operator_previews WHERE id = :id"), {"id": request_id})).mappings().first()
    if row is None:
        return Template("accounts/message.html", status_code=404, headers={"cache-control": "no-store"},
                        context={"title": "Introuvable", "message": "Cet aperçu n'existe pas.",
                                 "link": (PATH, "Aperçus")})
    result = row["result"]
    if isinstance(result, str):
        result = orjson.loads(result)
    waited = (datetime.now(UTC) - row["requested_at"]).total_seconds()
    stale = row["status"] == "pending" and waited > STALE_AFTER_S
    return Template("partners/apercu.html", headers={"cache-control": "no-store"},
                    context={"p": dict(row), "result": result, "labels": LABELS, "verdicts": VERDICTS,
                             "stale": stale, "stale_minutes": STALE_AFTER_S // 60})


async def store_answer(engine, done: PreviewCompleted) -> str:
    """Keep the crawler's answer with its request; an answer to no request of ours is ignored."""
    async with engine.begin() as conn:
        stored = (await conn.execute(text(
            "UPDATE operator_previews SET status = :s, result = CAST(:r AS jsonb), answered_at = now() "
            "WHERE id = :id RETURNING 1"),
            {"s": done.status, "r": done.model_dump_json(), "id": done.request_id})).first()
    return "stored" if stored else "unknown request"


async def _store(app: Litestar, done: PreviewCompleted) -> str:
    return await store_answer(app.state.engine, done)


lifespan = subscriber_lifespan("previews", CRAWL_PREVIEWS, PreviewCompleted, _store)
"""The gateway's subscriber of the crawler's answers (consumer group ``gateway-previews``)."""


routes = [preview_form, ask_preview, preview_page]
