"""Previews asked from the operators' web page: ``PreviewRequested`` on ``crawl.preview_requests.v1``
→ the same bounded, polite, write-nothing preview as ``crawler preview`` → ``PreviewCompleted`` on
``crawl.previews.v1``.

A request may carry a partner entry to try (YAML). What it may do is bounded by the configured
partners: private (loopback, LAN) addresses only when the configured partner of the same slug
already allows them, and never a shorter delay between requests than the configured partner's
(``MIN_DELAY_S`` for a partner not configured yet). A configuration error, an unknown partner or a
preview that takes too long is answered (``status: error``) — the operator sees why.
"""

from __future__ import annotations

import asyncio

import structlog
import yaml

from libs.contracts.preview_events import PreviewCompleted, PreviewRequested
from libs.contracts.topics import CRAWL_PREVIEW_REQUESTS, CRAWL_PREVIEWS
from libs.runtime.messaging import consumer, publish
from services.crawler.config import ConfigError, PartnersFile, parse_partners
from services.crawler.preview import failed_event, preview, to_event

log = structlog.get_logger()

GROUP = "crawler-preview"
MIN_DELAY_S = 1.0
"""Delay between two requests of a tried configuration for a partner not configured yet."""
TIMEOUT_S = 180.0
"""A preview still running after this is answered with an error (the sample is bounded anyway)."""


class Refused(Exception):
    pass


def partner_for(request: PreviewRequested, configured: PartnersFile):
    """The partner to preview: the configured one, or the tried entry within the configured limits."""
    known = {p.slug: p for p in configured.partners}
    if not request.config_yaml or not request.config_yaml.strip():
        if request.partner not in known:
            raise Refused(f"partenaire inconnu : {request.partner!r} (ni configuré, ni configuration fournie)")
        return known[request.partner]
    try:
        data = yaml.safe_load(request.config_yaml)
    except yaml.YAMLError as exc:
        raise Refused(f"YAML illisible : {exc}") from None
    if isinstance(data, dict) and "partners" in data:
        entries = data.get("partners") or []
    else:
        entries = data if isinstance(data, list) else [data]
    if not isinstance(entries, list) or len(entries) != 1:
        raise Refused("la configuration doit décrire exactement un partenaire")
    try:
        [tried] = parse_partners({"user_agent": configured.user_agent, "partners": entries}, "configuration").partners
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    if tried.slug != request.partner:
        raise Refused(f"la configuration décrit {tried.slug!r}, pas {request.partner!r}")
    base = known.get(tried.slug)
    if tried.allow_private_addresses and not (base and base.allow_private_addresses):
        raise Refused("allow_private_addresses n'est permis que si le partenaire configuré l'a déjà")
    floor = base.delay_s if base else MIN_DELAY_S
    return tried.model_copy(update={"delay_s": max(tried.delay_s, floor)})


async def answer(request: PreviewRequested, configured: PartnersFile, client) -> PreviewCompleted:
    """The preview's answer; never raises for the request's own problems."""
    cid = request.correlation_id
    try:
        partner = partner_for(request, configured)
    except Refused as exc:
        return failed_event(request.request_id, request.partner, str(exc), cid)
    try:
        result = await asyncio.wait_for(preview(partner, client, request.max_pages), TIMEOUT_S)
    except TimeoutError:
        return failed_event(request.request_id, request.partner, f"aperçu interrompu après {TIMEOUT_S:.0f} s", cid)
    return to_event(result, request.request_id, cid)


def register(broker, configured: PartnersFile, client) -> None:
    """Subscribe the crawler to preview requests (its own consumer group)."""
    @consumer(broker, service="crawler", topics=CRAWL_PREVIEW_REQUESTS, group_id=GROUP, model=PreviewRequested,
              max_workers=2)  # one message at a time per worker: a slow preview never holds a batch
    async def preview_requested(request: PreviewRequested) -> str:
        done = await answer(request, configured, client)
        await publish(broker, CRAWL_PREVIEWS, done, key=request.request_id)
        log.info("preview answered", partner=request.partner, request_id=request.request_id, status=done.status,
                 records=len(done.records), set_aside=len(done.set_aside))
        return done.status
