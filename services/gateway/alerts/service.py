"""Saved searches and alerts, the use cases: save and delete a search, unsubscribe with a signed
token, record the matches of each canonical project or post that changes (the consumer's work, one
transaction per event), and send the digests that are due through the mail outbox."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.events import CanonicalChanged, MatchmakingChanged, Operation
from services.gateway.alerts import rules, store
from services.gateway.matchmaking.store import get_post
from services.gateway.search.rules import QueryError

log = structlog.get_logger()
DIGEST_BATCH = 50
"""Searches handled per transaction of the digest job."""
NEW_MARGIN = timedelta(minutes=5)
"""A project first seen at most this long before the search was saved still counts as new."""


class Refused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def signing_key(cfg) -> str:
    """The platform's SECRET_KEY; without one, the links still hold (each search's nonce is random
    and secret) but a deployment should set it."""
    return cfg.secret_key or "carrefour-alerts-unsigned"


# --------------------------------------------------------------------------- saved searches


async def create(engine: AsyncEngine, user, name: str, pairs: list[tuple[str, str]], frequency: str) -> dict[str, Any]:
    if user is None or not user.email_verified:
        raise Refused("Confirmez d'abord votre adresse e-mail pour recevoir des alertes.", 403)
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= rules.MAX_NAME_CHARS:
        raise Refused(f"Donnez un nom à l'alerte (1 à {rules.MAX_NAME_CHARS} caractères).")
    if frequency not in rules.FREQUENCIES:
        raise Refused("Fréquence : quotidienne ou hebdomadaire.")
    try:
        kept = rules.saved_pairs(pairs)
    except QueryError as exc:
        raise Refused(f"Recherche invalide : {exc}") from None
    gates = rules.gates(rules.query_of(kept))
    async with engine.begin() as conn:
        if await store.count_of_user(conn, user.id, lock=True) >= rules.MAX_SEARCHES_PER_USER:
            raise Refused(f"Vous avez déjà {rules.MAX_SEARCHES_PER_USER} alertes, le maximum : supprimez-en une "
                          "avant d'en créer une autre.", 409)
        saved = await store.insert(conn, user.id, name, kept, frequency, gates, secrets.token_urlsafe(24))
    log.info("saved search created", search_id=saved["id"], user_id=user.id, frequency=frequency, gates=len(gates))
    return saved


async def delete(engine: AsyncEngine, user, search_id: int) -> None:
    async with engine.begin() as conn:
        saved = await store.get(conn, search_id, for_update=True)
        if saved is None or not saved["active"]:
            raise Refused("Cette alerte n'existe pas.", 404)
        if saved["user_id"] != user.id:
            raise Refused("Cette alerte n'est pas la vôtre.", 403)
        await store.deactivate(conn, search_id)
    log.info("saved search deleted", search_id=search_id, user_id=user.id)


async def check_token(engine: AsyncEngine, key: str, token: str) -> dict[str, Any] | None:
    """The saved search an unsubscribe token names, when its signature holds."""
    search_id = rules.token_id(token or "")
    if search_id is None:
        return None
    async with engine.connect() as conn:
        saved = await store.get(conn, search_id)
    if saved is None or not rules.token_valid(key, token, saved["nonce"]):
        return None
    return saved


async def unsubscribe(engine: AsyncEngine, key: str, token: str) -> dict[str, Any] | None:
    saved = await check_token(engine, key, token)
    if saved is None:
        return None
    if saved["active"]:
        async with engine.begin() as conn:
            await store.deactivate(conn, saved["id"])
        log.info("saved search unsubscribed", search_id=saved["id"])
    return saved


# --------------------------------------------------------------------------- the consumer's work


async def _match(engine: AsyncEngine, item: rules.Item, version: int, change_of) -> str:
    async with engine.begin() as conn:
        candidates = await store.candidates(conn, rules.item_keys(item))
        changes = {}
        for saved in candidates:
            try:
                query = rules.query_of(saved["params"])
            except QueryError:  # saved under older rules: skipped, and said so
                log.warning("saved search no longer valid", search_id=saved["id"])
                continue
            if rules.matches(query, item):
                changes[saved["id"]] = change_of(saved)
        written = await store.record(conn, item.kind, item.id, version, item.title, item.place, changes)
    return f"matched {len(changes)} of {len(candidates)} candidate searches, {written} recorded"


async def on_canonical(engine: AsyncEngine, event: CanonicalChanged) -> str:
    if event.op is Operation.DELETE or event.project is None:
        async with engine.begin() as conn:
            dropped = await store.forget(conn, "project", event.canonical_id)
        return f"deleted, {dropped} pending dropped"
    project = event.project
    item = rules.project_item(project)
    first_seen = project.first_seen

    def change_of(saved: dict[str, Any]) -> str:
        return "new" if first_seen >= saved["created_at"] - NEW_MARGIN else "changed"

    return await _match(engine, item, event.version, change_of)


async def on_post(engine: AsyncEngine, event: MatchmakingChanged) -> str:
    """A post changed: read it from the gateway's own table (the event carries no text)."""
    if event.kind in ("reported", "answered"):
        return "ignored"
    async with engine.connect() as conn:
        post = await get_post(conn, event.post_id)
    if post is None or post.get("status") != "open" or post.get("hidden"):
        async with engine.begin() as conn:
            dropped = await store.forget(conn, "post", event.post_id)
        return f"not open, {dropped} pending dropped"
    item = rules.post_item(post)
    version = int(post["updated_at"].timestamp() * 1000)
    created = post["created_at"]
    return await _match(engine, item, version,
                        lambda saved: "new" if created >= saved["created_at"] - NEW_MARGIN else "changed")


# --------------------------------------------------------------------------- digests


async def send_digests(engine: AsyncEngine, mailer, key: str, base_url: str) -> int:
    """Mail every digest that is due (one mail per saved search, at most DIGEST_MAX_ITEMS items
    listed, the rest counted and linked); the mail is queued in the outbox in the same transaction
    that marks the matches sent, so a digest is neither lost nor sent twice. Returns mails queued."""
    sent = 0
    while True:
        async with engine.begin() as conn:
            due = await store.due(conn, DIGEST_BATCH)
            for saved in due:
                items, total = await store.pending(conn, saved["id"], rules.DIGEST_MAX_ITEMS)
                token = rules.unsubscribe_token(key, saved["id"], saved["nonce"])
                unsubscribe_url = f"{base_url}/alertes/desabonnement/{token}"
                subject, body = rules.digest_mail(saved["name"], saved["frequency"], items, total - len(items),
                                                  base_url, saved["params"], unsubscribe_url)
                await mailer.send(saved["email"], subject, body, conn=conn, headers={
                    "List-Unsubscribe": f"<{unsubscribe_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
                await store.mark_sent(conn, saved["id"])
                log.info("alert digest queued", search_id=saved["id"], items=len(items), total=total)
                sent += 1
        if len(due) < DIGEST_BATCH:
            return sent
