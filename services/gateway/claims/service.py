"""Use cases of claims and holder edits: one transaction each, shared by the JSON API and the
pages. Rules come from ``domain``, SQL from ``store``; the mailer queues inside the transaction;
``HolderEditChanged`` is published after the commit (it carries the full state, so the next save
repairs a lost publish)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.events import HolderEditChanged
from libs.contracts.topics import HOLDER_EDITS
from libs.runtime.messaging import publish
from services.gateway.accounts.audit import audit
from services.gateway.accounts.identity import User
from services.gateway.claims import domain, store

log = structlog.get_logger()
MAX_CLAIMS_PER_DAY = 5


class ClaimError(Exception):
    """A refused action: HTTP status and a French message (``field`` for form errors)."""

    def __init__(self, status: int, message: str, field: str | None = None, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.errors = status, message, field, errors or {}


def _refuse(verdict: domain.Verdict) -> None:
    if not verdict.allowed:
        raise ClaimError(verdict.status, verdict.reason)


MAX_ID = 2**63 - 1


def _claim_id(claim_id: int) -> int:
    if not 0 < claim_id <= MAX_ID:
        raise ClaimError(404, "Demande introuvable.")
    return claim_id


def now() -> datetime:
    return datetime.now(UTC)


def claim_json(row: Any, *, reviewer: bool = False) -> dict[str, Any]:
    out = {"id": row.id, "project_id": row.project_id, "project_title": row.project_title, "status": row.status,
           "status_label": domain.STATUS_LABELS.get(row.status, row.status),
           "confirmation_sent_to": domain.mask_email(row.contact_email) if row.contact_email else None,
           "created_at": row.created_at, "decided_at": row.decided_at, "decided_via": row.decided_via,
           "reason": row.reason, "sources": list(row.sources or [])}
    if reviewer:
        out.update(message=row.message, claimant={"id": row.user_id, "display_name": row.user_name,
                                                  "email": row.user_email})
    return out


async def project_doc(search, project_id: str) -> dict[str, Any]:
    doc = await search.get(project_id) if domain.PROJECT_ID.match(project_id or "") else None
    if doc is None:
        raise ClaimError(404, "Projet introuvable.")
    return doc


# --------------------------------------------------------------------------- claims


@dataclass
class Started:
    claim_id: int
    confirmation_sent_to: str | None  # masked


async def start_claim(engine: AsyncEngine, mailer, search, base_url: str, user: User, project_id: str,
                      message: str | None) -> Started:
    doc = await project_doc(search, project_id)
    message = (message or "").strip() or None
    if message and (len(message) > domain.MAX_MESSAGE or any(ord(c) < 32 and c not in "\n\t\r" for c in message)):
        raise ClaimError(400, f"Message de {domain.MAX_MESSAGE} caractères au plus, sans caractères de contrôle.",
                         field="message")
    title = doc.get("title") or project_id
    contact = domain.published_contact(doc)
    async with engine.begin() as conn:
        _refuse(domain.may_claim(verified=user.email_verified, is_holder_role=user.has("holder"),
                                 current_holder=await store.holder_of(conn, project_id), user_id=user.id))
        if await store.recent_claims(conn, user.id) >= MAX_CLAIMS_PER_DAY:
            raise ClaimError(429, "Trop de demandes aujourd'hui : réessayez demain.")
        token = token_hash = expires = None
        if contact:
            token, token_hash = domain.new_token()
            expires = now() + domain.CONFIRM_TTL
        try:
            claim_id = await store.create_claim(conn, project_id=project_id, user_id=user.id, project_title=title,
                                                sources=domain.project_sources(doc), message=message,
                                                contact_email=contact, token_hash=token_hash,
                                                token_expires_at=expires)
        except store.AlreadyHeld:
            raise ClaimError(409, "Ce projet est déjà géré par son porteur.") from None
        except store.AlreadyPending:
            raise ClaimError(409, "Vous avez déjà une demande en attente pour ce projet.") from None
        if contact and token and expires:
            subject, body = domain.confirmation_mail(project_title=title, claimant=user.display_name,
                                                     link=f"{base_url}/revendications/confirmer?jeton={token}",
                                                     expires=expires)
            await mailer.send(contact, subject, body, conn=conn)
        subject, body = domain.review_mail(project_title=title, claimant=user.display_name,
                                           link=f"{base_url}/revendications#demande-{claim_id}")
        for reviewer in await store.reviewer_emails(conn, domain.project_sources(doc)):
            if reviewer.lower() != user.email.lower():
                await mailer.send(reviewer, subject, body, conn=conn)
        await audit(conn, user.id, "claim.created", f"project:{project_id}",
                    {"claim_id": claim_id, "route": "email+review" if contact else "review"})
    log.info("claim created", claim_id=claim_id, project_id=project_id, user_id=user.id, by_email=bool(contact))
    return Started(claim_id, domain.mask_email(contact) if contact else None)


async def peek_token(engine: AsyncEngine, token: str) -> Any:
    """The pending claim a confirmation link names (to show what is being confirmed), else ClaimError."""
    if not domain.plausible_token(token or ""):
        raise ClaimError(404, "Ce lien de confirmation est inconnu.")
    async with engine.connect() as conn:
        row = await store.claim_by_token(conn, domain.token_hash(token))
    if row is None:
        raise ClaimError(404, "Ce lien de confirmation est inconnu ou a déjà servi.")
    _refuse(domain.confirm_verdict(status=row.status, expires_at=row.token_expires_at, now=now()))
    return row


async def confirm_by_email(engine: AsyncEngine, mailer, base_url: str, token: str) -> Any:
    """The project's published contact confirms with the e-mailed token; returns the claim row."""
    if not domain.plausible_token(token or ""):
        raise ClaimError(404, "Ce lien de confirmation est inconnu.")
    async with engine.begin() as conn:
        row = await store.claim_by_token(conn, domain.token_hash(token), for_update=True)
        if row is None:
            raise ClaimError(404, "Ce lien de confirmation est inconnu ou a déjà servi.")
        _refuse(domain.confirm_verdict(status=row.status, expires_at=row.token_expires_at, now=now()))
        await _decide(conn, mailer, base_url, row, approve=True, by=None, via="email", reason=None)
    return row


async def _decide(conn, mailer, base_url: str, row: Any, *, approve: bool, by: int | None, via: str,
                  reason: str | None) -> None:
    try:
        done = await store.decide(conn, row.id, "approved" if approve else "rejected", by=by, via=via, reason=reason)
    except store.AlreadyHeld:
        raise ClaimError(409, "Ce projet est déjà géré par son porteur.") from None
    if not done:
        raise ClaimError(409, "Cette demande a déjà été traitée.")
    subject, body = domain.decision_mail(project_title=row.project_title, approved=approve,
                                         link=f"{base_url}/projets/{row.project_id}/modifier", reason=reason)
    await mailer.send(row.user_email, subject, body, conn=conn)
    await audit(conn, by, "claim.approved" if approve else "claim.rejected", f"project:{row.project_id}",
                {"claim_id": row.id, "via": via, "claimant": row.user_id})
    log.info("claim decided", claim_id=row.id, project_id=row.project_id, approved=approve, via=via)


async def review(engine: AsyncEngine, mailer, search, base_url: str, reviewer: User, claim_id: int, *,
                 approve: bool, reason: str | None) -> Any:
    """A partner user of one of the project's sources, or an operator, approves or rejects."""
    reason = (reason or "").strip()[:domain.MAX_REASON] or None
    async with engine.begin() as conn:
        row = await store.claim(conn, _claim_id(claim_id), for_update=True)
        if row is None:
            raise ClaimError(404, "Demande introuvable.")
        doc = await search.get(row.project_id)
        sources = set(row.sources or []) | set(domain.project_sources(doc))
        _refuse(domain.may_review(user_id=reviewer.id, is_operator=reviewer.has("operator"),
                                  partner=reviewer.partner if reviewer.has("partner") else None,
                                  claimant_id=row.user_id, sources=sources))
        via = "operator" if reviewer.has("operator") else "partner"
        await _decide(conn, mailer, base_url, row, approve=approve, by=reviewer.id, via=via, reason=reason)
    return row


async def withdraw(engine: AsyncEngine, user: User, claim_id: int) -> None:
    async with engine.begin() as conn:
        row = await store.claim(conn, _claim_id(claim_id), for_update=True)
        if row is None:
            raise ClaimError(404, "Demande introuvable.")
        if row.user_id != user.id:
            raise ClaimError(403, "Cette demande n'est pas la vôtre.")
        if not await store.decide(conn, claim_id, "withdrawn", by=user.id, via="claimant"):
            raise ClaimError(409, "Cette demande a déjà été traitée.")
        await audit(conn, user.id, "claim.withdrawn", f"project:{row.project_id}", {"claim_id": claim_id})


async def pending_for(engine: AsyncEngine, reviewer: User) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await store.pending_for_review(conn, partner=reviewer.partner if reviewer.has("partner") else None,
                                              everything=reviewer.has("operator"))
    return [claim_json(r, reviewer=True) for r in rows if r.user_id != reviewer.id]


async def mine(engine: AsyncEngine, user: User) -> dict[str, Any]:
    async with engine.connect() as conn:
        claims = [claim_json(r) for r in await store.claims_of_user(conn, user.id)]
        held = await store.projects_of(conn, user.id)
    return {"projects": held, "claims": claims}


# --------------------------------------------------------------------------- holder edits


async def _publish(broker: KafkaBroker, project_id: str, version: int, fields: Mapping[str, Any]) -> None:
    event = HolderEditChanged(canonical_id=project_id, fields=domain.event_fields(fields), version=version)
    try:
        await publish(broker, HOLDER_EDITS, event, key=project_id)
    except Exception as exc:  # noqa: BLE001 — the edit is saved; say so and let the holder save again
        log.error("holder edit not announced", project_id=project_id, version=version,
                  error=f"{type(exc).__name__}: {exc}")
        raise ClaimError(503, "Vos modifications sont enregistrées mais pas encore publiées : "
                              "enregistrez à nouveau dans un instant.") from None
    log.info("holder edit", project_id=project_id, version=version, correlation_id=event.correlation_id,
             fields=sorted(k for k, v in fields.items() if v is not None))


def _known_id(project_id: str) -> None:
    if not domain.PROJECT_ID.match(project_id or ""):
        raise ClaimError(404, "Projet introuvable.")


async def current_edits(engine: AsyncEngine, user: User, project_id: str) -> dict[str, Any]:
    """What the holder set (published fields and private contact e-mail); 403 unless the holder."""
    _known_id(project_id)
    async with engine.connect() as conn:
        _refuse(domain.may_edit(user_id=user.id, verified=user.email_verified,
                                holder=await store.holder_of(conn, project_id)))
        row = await store.holder_edits(conn, project_id)
    fields = dict(row.fields or {}) if row else {}
    return {"project_id": project_id, "version": row.version if row else 0,
            "fields": domain.event_fields(fields), "contact_email": row.contact_email if row else None}


async def save_edits(engine: AsyncEngine, broker: KafkaBroker, user: User, project_id: str,
                     data: Mapping[str, Any]) -> dict[str, Any]:
    _known_id(project_id)
    result = domain.validate_edit(data)
    async with engine.begin() as conn:
        _refuse(domain.may_edit(user_id=user.id, verified=user.email_verified,
                                holder=await store.holder_of(conn, project_id)))
        if not result.ok:
            raise ClaimError(400, "Certains champs sont à corriger.", errors=result.errors)
        fields = {k: v for k, v in result.fields.items() if v is not None}
        version = await store.save_holder_edits(conn, project_id, user.id, fields, result.contact_email)
        await audit(conn, user.id, "project.holder_edit", f"project:{project_id}",
                    {"version": version, "fields": sorted(fields), "contact_email_set": bool(result.contact_email)})
    await _publish(broker, project_id, version, fields)
    return {"project_id": project_id, "version": version, "fields": domain.event_fields(fields),
            "contact_email": result.contact_email}


async def revoke(engine: AsyncEngine, broker: KafkaBroker, operator: User, project_id: str,
                 reason: str | None) -> dict[str, Any]:
    """An operator ends a holding: the holder's published fields are withdrawn from the index."""
    if not operator.has("operator"):
        raise ClaimError(403, "Réservé aux opérateurs.")
    async with engine.begin() as conn:
        former = await store.revoke(conn, project_id, by=operator.id, reason=(reason or "").strip()[:500] or None)
        if former is None:
            raise ClaimError(404, "Ce projet n'a pas de porteur.")
        version = await store.save_holder_edits(conn, project_id, None, {}, None)
        await audit(conn, operator.id, "claim.revoked", f"project:{project_id}", {"former_holder": former})
    await _publish(broker, project_id, version, {})
    return {"project_id": project_id, "revoked_holder": former, "version": version}


async def holder_context(engine: AsyncEngine, user: User | None, project_id: str) -> dict[str, Any]:
    """For the project page: is it managed by its holder, is the visitor that holder, may they claim it."""
    async with engine.connect() as conn:
        holder = await store.holder_of(conn, project_id)
    return {"managed": holder is not None, "is_holder": user is not None and holder == user.id,
            "can_claim": holder is None}
