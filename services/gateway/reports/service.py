"""Use cases of the reports: a visitor reports a problem about a project; a moderator confirms or
rejects it. A confirmed "closed" flags the project on the gateway's side (``project_flags``: the
pages mark it, the partners' data stays as published); a confirmed "duplicate" becomes a dedup
override ("same") through the review queue's use case, which publishes ``DedupOverrideChanged`` on
``dedup.overrides.v1``; the reporter who left an address is told the outcome (mail outbox, in the
same transaction as the decision)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.contact.domain import hash_key
from services.gateway.moderation import service as moderation
from services.gateway.reports import rules, store

log = structlog.get_logger()


class ReportError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


@dataclass
class Ctx:
    engine: AsyncEngine
    search: Any
    broker: Any
    mailer: Any
    base_url: str


async def report(ctx: Ctx, project_id: str, form: dict[str, str | None], ip: str | None,
                 user: Any | None) -> int | None:
    """Stores a visitor's report; None when the honeypot was filled (dropped, silently to the bot)."""
    doc = await ctx.search.get(project_id) if rules.PROJECT_ID.match(project_id or "") else None
    if doc is None:
        raise ReportError(404, "Projet introuvable.")
    draft = rules.check(project_id, form.get("kind"), form.get("detail"), form.get("duplicate_of"),
                        form.get("email") or (user.email if user else None), form.get("website"))
    if draft.kind == "duplicate" and not draft.errors and await ctx.search.get(draft.duplicate_of) is None:
        draft.errors["duplicate_of"] = "Ce projet n'existe pas : vérifiez l'adresse."
    if draft.errors:
        raise ReportError(400, "Le signalement n'a pas pu être envoyé : corrigez les champs signalés.", draft.errors)
    if draft.spam:
        log.info("report honeypot filled: dropped", project=project_id)
        return None
    ip_hash = hash_key(ip or "unknown")
    async with ctx.engine.begin() as conn:
        limit = rules.exceeded(await store.lock_and_count(conn, ip_hash))
        if limit:
            log.info("report rate limited", window_s=limit.window_s)
            raise ReportError(429, limit.message)
        report_id = await store.add(conn, project_id=project_id, project_title=doc.get("title") or "",
                                    kind=draft.kind, duplicate_of=draft.duplicate_of, detail=draft.detail,
                                    reporter_email=draft.email, reporter_user_id=user.id if user else None,
                                    ip_hash=ip_hash)
    log.info("project reported", report=report_id, project=project_id, kind=draft.kind)
    return report_id


async def queue(engine: AsyncEngine, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    async with engine.connect() as conn:
        return (await store.pending(conn, rules.PAGE_SIZE, (max(page, 1) - 1) * rules.PAGE_SIZE),
                await store.count_open(conn))


def _record_keys(doc: dict[str, Any] | None) -> list[str]:
    sources = ((doc or {}).get("project") or {}).get("sources") or []
    return [f"{s['partner']}:{s['record_id']}" for s in sources if s.get("partner") and s.get("record_id")]


async def decide(ctx: Ctx, user: Any, report_id: int, choice: str | None, note: str | None) -> dict[str, Any]:
    """Records the decision and applies its effect; returns the report as decided."""
    decided = rules.decision(choice)
    note = " ".join((note or "").split())[:rules.NOTE_MAX] or None
    async with ctx.engine.connect() as conn:
        row = await store.get(conn, report_id)
    if row is None:
        raise ReportError(404, "Signalement introuvable.")
    effect = rules.effect(row["kind"], decided)
    if row["status"] == "open" and effect == "merge":
        # first the override (checked, stored, published by the review queue's use case): when it
        # fails the report stays open; when the decision below fails, the override is kept and
        # deciding again upserts it (idempotent)
        merge = rules.pair(_record_keys(await ctx.search.get(row["project_id"])),
                           _record_keys(await ctx.search.get(row["duplicate_of"] or "")))
        if merge is None:
            raise ReportError(409, "L'un des deux projets n'existe plus : écartez le signalement.")
        try:
            await moderation.decide(ctx.engine, ctx.broker, user, merge[0], merge[1], "meme",
                                    f"signalement {report_id} : doublon confirmé", queued_only=False)
        except (moderation.NotFound, ValueError) as exc:
            raise ReportError(409, f"Fusion impossible : {exc}") from exc
    async with ctx.engine.begin() as conn:
        row = await store.get(conn, report_id, for_update=True)
        if row is None or row["status"] != "open":
            raise ReportError(409, "Ce signalement a déjà été traité.")
        await store.decide(conn, report_id, decided, f"moderation:{user.id}", note)
        if effect == "closed":
            await store.set_closed(conn, row["project_id"], True, report_id)
        if row["reporter_email"]:
            page = f"{ctx.base_url}/projets/{row['project_id']}"
            await ctx.mailer.send(row["reporter_email"], f"Votre signalement : {row['project_title'][:80]}",
                                  rules.outcome_mail(title=row["project_title"], kind=row["kind"], decided=decided,
                                                     page_url=page, note=note), conn=conn)
    log.info("report decided", report=report_id, decision=decided, effect=effect, moderator=user.id)
    return {**row, "status": decided}


async def closed_among(engine: AsyncEngine, ids: list[str]) -> dict[str, Any]:
    """The projects among ``ids`` a moderator confirmed closed (id → since when)."""
    async with engine.connect() as conn:
        return await store.closed_among(conn, ids)
