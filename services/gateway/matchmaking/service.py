"""Matchmaking use cases: each one transaction (post row, audit row) and its MatchmakingChanged
event, published before the commit (a failed publish rolls the change back, so every stored change
is announced at least once). Used by the JSON API and the web pages alike."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.contracts.events import MatchmakingChanged
from libs.contracts.taxonomy import taxonomy
from libs.contracts.topics import MATCHMAKING
from libs.runtime.messaging import publish
from services.gateway.accounts.audit import audit
from services.gateway.claims.store import holder_of
from services.gateway.matchmaking import store
from services.gateway.matchmaking.domain import (
    COMPLEMENTS,
    PARIS,
    PROJECT_KINDS,
    REPORT_REASONS,
    REPORTS_PER_HOUR_PER_IP,
    Draft,
    can_edit,
    expires_at,
    new_post_id,
)
from services.gateway.matchmaking.matching import (
    SUGGEST_RADIUS_KM,
    rank_suggestions,
    search_text,
)
from services.gateway.matchmaking.places import gazetteer
from services.gateway.search.rules import SearchQuery, parse_search

log = structlog.get_logger()


class Refused(Exception):
    """A user may not do this: ``status`` 401/403/404/409/429, a French message, field errors for 400."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


def today() -> datetime:
    return datetime.now(UTC)


def paris_today():
    return datetime.now(PARIS).date()


async def _audit(conn: AsyncConnection, actor_id: int | None, action: str, post_id: str, details: dict | None) -> None:
    await audit(conn, actor_id, action, f"post:{post_id}", details)


async def _announce(broker: KafkaBroker, post: dict[str, Any], kind: str, actor_role: str) -> None:
    event = MatchmakingChanged(kind=kind, post_id=post["id"], post_kind=post["kind"], project_id=post.get("project_id"),
                               themes=list(post.get("themes") or [])[:30], departement=post.get("departement"),
                               actor_role=actor_role)
    await publish(broker, MATCHMAKING, event, key=post["id"])
    log.info("matchmaking event", kind=kind, post_id=post["id"], post_kind=post["kind"])


def actor_role(user) -> str:
    if user is None:
        return "visitor"
    if user.has("operator"):
        return "operator"
    if user.has("moderator"):
        return "moderator"
    return "holder"


def _place_values(place) -> dict[str, Any]:
    return dict(commune=place.code, commune_name=place.name, postcode=place.postcode, departement=place.departement,
                departement_name=place.departement_name, region=place.region, region_name=place.region_name,
                lat=place.lat, lon=place.lon)


async def _values(conn: AsyncConnection, search, user, draft: Draft, created: datetime) -> dict[str, Any]:
    """The row of a draft: its project checked (held by the author) and its place resolved."""
    values: dict[str, Any] = {k: getattr(draft, k) for k in (
        "kind", "title", "description", "skills", "themes", "remote", "contract_type", "hours", "pay_min", "pay_max",
        "pay_period", "start_date", "deadline", "availability")}
    values["project_id"], values["project_title"] = None, None
    if draft.kind in PROJECT_KINDS:
        doc = await search.get(draft.project_id)
        if doc is None:
            raise Refused(400, "Projet introuvable.", {"project_id": "Ce projet n'existe pas dans Carrefour."})
        if await holder_of(conn, draft.project_id) != user.id:
            raise Refused(403, "Seul le porteur vérifié de ce projet peut publier une annonce liée à ce projet.")
        values["project_id"], values["project_title"] = draft.project_id, doc.get("title")
        if not draft.themes:
            values["themes"] = list(doc.get("theme") or doc.get("themes") or [])[:5]
        values.update({k: doc.get(k) for k in ("commune", "commune_name", "postcode", "departement",
                                               "departement_name", "region", "region_name", "lat", "lon")})
    if draft.commune:  # a person's commune, or the place of a job offer when it is not the project's
        place, choices = gazetteer().resolve(draft.commune)
        if place is None:
            hint = (" Précisez : " + " ; ".join(p.label for p in choices[:5]) + ".") if choices else ""
            raise Refused(400, "Commune introuvable.", {
                "commune": ("Plusieurs communes portent ce nom." if choices else "Commune inconnue.") + hint})
        values.update(_place_values(place))
    title_f, body_f = search_text(draft.title, draft.description, draft.skills,
                                  [values.get("commune_name") or "", values.get("departement_name") or "",
                                   values.get("project_title") or "", draft.availability or ""])
    values.update(title_folded=title_f, body_folded=body_f,
                  words_folded=" ".join([title_f, *(s.replace("-", " ") for s in draft.skills)]),
                  expires_at=expires_at(draft.kind, created, draft.deadline))
    return values


def _require_author(user) -> None:
    if user is None:
        raise Refused(401, "Connectez-vous pour publier une annonce.")
    if not user.email_verified:
        raise Refused(403, "Vérifiez d'abord votre adresse électronique.")


async def create(engine: AsyncEngine, broker: KafkaBroker, search, user, draft: Draft) -> dict[str, Any]:
    _require_author(user)
    now = today()
    async with engine.begin() as conn:
        values = await _values(conn, search, user, draft, now)
        values["author_id"] = user.id
        post = await store.insert_post(conn, new_post_id(draft.title), values)
        await _audit(conn, user.id, "matchmaking.create", post["id"], {"kind": post["kind"],
                                                                       "project_id": post["project_id"]})
        await _announce(broker, post, "created", "holder")
    log.info("post created", post_id=post["id"], kind=post["kind"], author_id=user.id)
    return post


async def _owned(conn: AsyncConnection, user, post_id: str) -> dict[str, Any]:
    if user is None:
        raise Refused(401, "Connectez-vous.")
    post = await store.get_post(conn, post_id, for_update=True)
    if post is None:
        raise Refused(404, "Annonce introuvable.")
    if not can_edit(post, user.id):
        raise Refused(403, "Seul l'auteur de l'annonce peut la modifier ou la clore.")
    return post


async def update(engine: AsyncEngine, broker: KafkaBroker, search, user, post_id: str, draft: Draft) -> dict[str, Any]:
    async with engine.begin() as conn:
        post = await _owned(conn, user, post_id)
        if post["status"] != "open":
            raise Refused(409, "Une annonce close ne se modifie plus : publiez-en une nouvelle.")
        if draft.kind != post["kind"]:
            raise Refused(400, "Le type d'une annonce ne change pas.", {"kind": "Le type d'une annonce ne change pas."})
        values = await _values(conn, search, user, draft, post["created_at"])
        updated = await store.update_post(conn, post_id, values)
        await _audit(conn, user.id, "matchmaking.update", post_id, None)
        await _announce(broker, updated, "updated", "holder")
    return updated


async def close(engine: AsyncEngine, broker: KafkaBroker, user, post_id: str) -> dict[str, Any]:
    async with engine.begin() as conn:
        post = await _owned(conn, user, post_id)
        closed = await store.close_post(conn, post_id, "author")
        if closed is None:
            return post  # already closed: nothing changes, nothing announced
        await _audit(conn, user.id, "matchmaking.close", post_id, {"reason": "author"})
        await _announce(broker, closed, "closed", "holder")
    return closed


async def set_hidden(engine: AsyncEngine, broker: KafkaBroker, user, post_id: str, hidden: bool,
                     reason: str | None) -> dict[str, Any]:
    if user is None:
        raise Refused(401, "Connectez-vous.")
    if not user.has("moderator"):
        raise Refused(403, "Réservé aux modérateurs.")
    async with engine.begin() as conn:
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None:
            raise Refused(404, "Annonce introuvable.")
        changed = await store.set_hidden(conn, post_id, hidden, reason)
        if changed is None:
            return post
        await _audit(conn, user.id, "matchmaking.hide" if hidden else "matchmaking.unhide", post_id,
                     {"reason": reason} if reason else None)
        await _announce(broker, changed, "hidden" if hidden else "unhidden", actor_role(user))
    log.info("post moderated", post_id=post_id, hidden=hidden, moderator_id=user.id)
    return changed


def reporter_key(user, ip: str) -> str:
    """Who reports, for the rate limit: the account, else a hash of the address (never stored plain)."""
    if user is not None:
        return f"user:{user.id}"
    return "ip:" + hashlib.sha256(("carrefour-report:" + (ip or "?")).encode()).hexdigest()[:32]


async def report(engine: AsyncEngine, broker: KafkaBroker, user, ip: str, post_id: str, reason: str,
                 details: str | None) -> int:
    if reason not in REPORT_REASONS:
        raise Refused(400, "Motif inconnu.", {"reason": "Choisissez un motif."})
    if details is not None and len(details) > 1000:
        raise Refused(400, "Précisions trop longues.", {"details": "Au plus 1000 caractères."})
    key = reporter_key(user, ip)
    async with engine.begin() as conn:
        post = await store.get_post(conn, post_id)
        if post is None or (post["hidden"] and not (user and (user.has("moderator") or user.id == post["author_id"]))):
            raise Refused(404, "Annonce introuvable.")
        if await store.count_recent_reports(conn, key, today() - timedelta(hours=1)) >= REPORTS_PER_HOUR_PER_IP:
            raise Refused(429, "Trop de signalements en peu de temps : réessayez dans une heure.")
        if await store.already_reported(conn, post_id, key):
            return post["report_count"]
        count = await store.add_report(conn, post_id, user.id if user else None, key, reason, details)
        await _audit(conn, user.id if user else None, "matchmaking.report", post_id, {"reason": reason})
        await _announce(broker, post, "reported", actor_role(user) if user else "visitor")
    log.info("post reported", post_id=post_id, reason=reason, reports=count)
    return count


async def expire(engine: AsyncEngine, broker: KafkaBroker, now: datetime | None = None) -> list[str]:
    """Close every post whose deadline or lifetime is over; returns their ids."""
    closed: list[str] = []
    while True:
        async with engine.begin() as conn:
            rows = await store.expire_due(conn, now or today(), limit=200)
            for post in rows:
                await _audit(conn, None, "matchmaking.expire", post["id"], {"reason": post["closed_reason"]})
                await _announce(broker, post, "closed", "system")
        closed += [r["id"] for r in rows]
        if len(rows) < 200:
            break
    if closed:
        log.info("posts expired", count=len(closed))
    return closed


async def suggestions(engine: AsyncEngine, search, post: dict[str, Any], limit: int = 6) -> dict[str, list]:
    """Posts that answer this one and projects of the same themes nearby, each with its reasons."""
    async with engine.connect() as conn:
        others = await store.candidates(conn, post, COMPLEMENTS[post["kind"]], SUGGEST_RADIUS_KM)
    projects: list[dict[str, Any]] = []
    if post.get("themes"):
        try:
            geo = {}
            if post.get("lat") is not None:
                geo = dict(lat=post["lat"], lon=post["lon"], radius_km=SUGGEST_RADIUS_KM, sort="nearest")
            query: SearchQuery = parse_search(filters={"theme": list(post["themes"])}, per_page=20, **geo)
            projects = (await search.search(query))["hits"]
        except Exception as exc:  # noqa: BLE001 — projects are a bonus; the posts still show
            log.warning("project suggestions unavailable", error=f"{type(exc).__name__}: {exc}")
    labels = {t.slug: t.label for t in taxonomy().terms("theme")}
    return rank_suggestions(post, others, projects, labels, limit)
