"""The embeddable map: ``/embed?source=…&theme=…&region=…&couleur=…`` is a page a partner puts in an
iframe on its own site (the only route whose Content-Security-Policy allows framing: see
``web/middleware.py``): the map of its projects (or of any filtered view) in its colour, each
project's card linking to the full page on Carrefour (outside the iframe). ``/integrer`` writes the
snippet to paste."""

from __future__ import annotations

import re
from typing import Any

from litestar import MediaType, Request, get
from litestar.response import Template

from services.gateway.search.params import app_state, labels_of
from services.gateway.search.rules import QueryError, parse_search

EMBED_FILTERS = ("source", "theme", "region")
COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")
DEFAULT_COLOUR = "00796b"


def embed_params(request: Request) -> tuple[list[tuple[str, str]], str]:
    """The filters (validated as a search's) and the colour (6 hex digits) of an embed request."""
    params = request.query_params
    unknown = sorted(set(params) - {*EMBED_FILTERS, "couleur"})
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0]!r}")
    filters = {f: [v for v in params.getall(f, []) if v] for f in EMBED_FILTERS}
    filters = {f: v for f, v in filters.items() if v}
    parse_search(filters=filters, page=1, per_page=1)  # raises QueryError on a malformed value
    found = COLOUR.match(params.get("couleur") or "")
    colour = (found.group(1) if found else DEFAULT_COLOUR).lower()
    return [(k, v) for k in EMBED_FILTERS for v in filters.get(k, [])], colour


@get("/embed", media_type=MediaType.HTML, include_in_schema=False)
async def embed(request: Request) -> Template:
    pairs, colour = embed_params(request)
    filters: dict[str, list[str]] = {}
    for k, v in pairs:
        filters.setdefault(k, []).append(v)
    state = app_state(request)
    result = await state.search.search(parse_search(filters=filters, page=1, per_page=1))
    names = [state.partners.get(s, {}).get("name") or s for s in filters.get("source", [])]
    return Template("embed/embed.html", context={"pairs": pairs, "colour": colour, "total": result["total"],
                                                 "names": names})


@get("/integrer", media_type=MediaType.HTML, include_in_schema=False)
async def snippet_page(request: Request) -> Template:
    """The snippet generator: choose a source, a theme, a région and a colour; copy the iframe."""
    try:
        pairs, colour = embed_params(request)
    except QueryError as exc:
        pairs, colour, error = [], DEFAULT_COLOUR, str(exc)
    else:
        error = None
    state = app_state(request)
    stats = await state.search.stats()
    labels = labels_of(stats)
    chosen: dict[str, Any] = dict(pairs)
    options = {
        "source": sorted(((state.partners.get(s, {}).get("name") or s, s) for s in stats["facets"].get("source", {})),
                         key=lambda t: t[0].lower()),
        "theme": sorted(((labels["theme"].get(v, v), v) for v in stats["facets"].get("theme", {})), key=lambda t: t[0]),
        "region": sorted(((labels.get("region", {}).get(v, v), v) for v in stats["facets"].get("region", {})),
                         key=lambda t: t[0]),
    }
    base = (getattr(state.settings, "public_base_url", None) or str(request.base_url)).rstrip("/")
    from urllib.parse import urlencode

    src = f"{base}/embed?" + urlencode([*pairs, ("couleur", colour)])
    return Template("embed/integrer.html", context={"options": options, "chosen": chosen, "colour": colour,
                                                    "src": src, "error": error})


routes = [embed, snippet_page]
