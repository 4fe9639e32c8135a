"""The Atom feed of a search (``/alertes/flux.atom?<the search's parameters>``): its newest matching
projects, for people who follow a theme or a territory without an account (any feed reader); the
page of each saved search links to it. Built from the search index (feed readers poll it), with the
search's own parser: an invalid parameter is a 400 that names it."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from services.gateway.alerts import rules
from services.gateway.search.params import FACET_TITLES, app_state, labels_of
from services.gateway.search.rules import parse_search

FEED_ITEMS = 50
FEED_MEDIA_TYPE = "application/atom+xml; charset=utf-8"


def base_url(request: Request) -> str:
    cfg = app_state(request).settings
    return (cfg.public_base_url or str(request.base_url)).rstrip("/")


@get("/alertes/flux.atom", media_type=FEED_MEDIA_TYPE, include_in_schema=False,
     cache_control=CacheControlHeader(max_age=300, public=True))
async def search_feed(request: Request) -> Template:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k in rules.SAVED_PARAMS and v.strip()]
    single = dict(pairs)
    filters = {f: [v for k, v in pairs if k == f] for f in FACET_TITLES if any(k == f for k, _ in pairs)}
    query = parse_search(q=single.get("q"), filters=filters, lat=single.get("lat"), lon=single.get("lon"),
                         radius_km=single.get("radius_km"), bbox=single.get("bbox"), sort="newest",
                         per_page=FEED_ITEMS)  # a QueryError is answered 400, naming the parameter
    result = await app_state(request).search.search(query)
    base = base_url(request)
    labels = labels_of(result)
    updated = max((h.get("updated_at") or h.get("first_seen") for h in result["hits"]),
                  default=datetime.now(UTC).isoformat())
    return Template("alerts/feed.xml", media_type=FEED_MEDIA_TYPE, context=dict(
        title=f"Carrefour — {rules.describe(pairs, labels, FACET_TITLES)}", base=base,
        self_url=f"{base}{request.url.path}{'?' + request.url.query if request.url.query else ''}",
        search_url=rules.search_url(base, pairs), hits=result["hits"], updated=updated, labels=labels))


routes = [search_feed]
