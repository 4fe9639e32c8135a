"""Saved searches and alerts, the pure rules (no I/O): what a saved search keeps of a query string,
whether a canonical project or a matchmaking post matches it, the gate keys that let the consumer
find the few candidate searches of a change, the digest mail and the signed unsubscribe token.

A saved search is parsed with the search's own parser (``search.rules.parse_search``), and items are
folded with the contract's ``fold``, so a saved search means what the same search on the site means:
every word must appear (as the start of a word of the item, or with the same French stem), OR within
a facet, AND across facets, the radius measured with the search's haversine."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import snowballstemmer

from libs.contracts.events import CanonicalProject
from libs.contracts.geo import haversine_km
from libs.contracts.search import FACET_FIELDS, fold
from services.gateway.search.rules import QueryError, SearchQuery, parse_search

MAX_SEARCHES_PER_USER = 20
"""Saved searches one account may keep."""
DIGEST_MAX_ITEMS = 50
"""Items listed in one digest mail; beyond, the mail says how many more and links to the search."""
MAX_NAME_CHARS = 100
FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
FREQUENCY_LABELS = {"daily": "quotidien", "weekly": "hebdomadaire"}
SAVED_PARAMS = ("q", *FACET_FIELDS, "lat", "lon", "radius_km", "bbox")
"""What a saved search keeps of a query string (not the page, the sort, the format)."""
MAX_GEO_CELLS = 400
"""A radius or box covering more 1° cells than this is not gated by place (another key, or none)."""
GATE_ORDER = ("commune", "departement", "word", "geo", "source", "region", "stage", "holder_type", "engineering",
              "theme", "country")
"""Which requirement gates a saved search, the most selective first."""
POST_FACETS = frozenset({"theme", "country", "region", "departement", "commune"})
"""Facets a matchmaking post has; a search filtering on another (stage, source…) matches no post."""

_stemmer = snowballstemmer.stemmer("french")


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


# --------------------------------------------------------------------------- saved query


def saved_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The search parameters worth saving, in order, empty values dropped; validated like a search
    (``QueryError`` names the bad one). A saved search with nothing at all is refused: it would be
    every project of the platform."""
    kept = [(k, v.strip()) for k, v in pairs if k in SAVED_PARAMS and isinstance(v, str) and v.strip()]
    kept = list(dict.fromkeys(kept))
    query = query_of(kept)
    if not query.tokens and not query.filters and query.geo is None and query.bbox is None:
        raise QueryError("une alerte a besoin d'au moins un mot, un filtre ou un lieu")
    return kept


def query_of(pairs: list[tuple[str, str]] | list[list[str]]) -> SearchQuery:
    """The SearchQuery of saved pairs (memoised: the consumer parses the same saved searches for
    every change; callers must not modify what they get)."""
    return _query_of(tuple((k, v) for k, v in pairs))


@lru_cache(maxsize=20_000)
def _query_of(pairs: tuple[tuple[str, str], ...]) -> SearchQuery:
    filters: dict[str, list[str]] = {}
    single: dict[str, str] = {}
    for k, v in pairs:
        if k in FACET_FIELDS:
            filters.setdefault(k, []).append(v)
        else:
            single[k] = v
    return parse_search(q=single.get("q"), filters=filters, lat=single.get("lat"), lon=single.get("lon"),
                        radius_km=single.get("radius_km"), bbox=single.get("bbox"))


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Item:
    """A project or a post as the matching sees it: folded words, facet values, coordinates."""

    kind: str  # "project" | "post"
    id: str
    title: str
    words: frozenset[str]
    facets: dict[str, frozenset[str]] = field(default_factory=dict)
    lat: float | None = None
    lon: float | None = None
    place: str | None = None


def _words(*texts: str | None) -> frozenset[str]:
    return frozenset(w for t in texts if t for w in fold(t).split())


def _place(commune: str | None, departement: str | None, country: str | None = None) -> str | None:
    parts = [p for p in (commune, departement) if p]
    if not parts and country:
        parts = [country]
    return " · ".join(parts) or None


def project_item(project: CanonicalProject) -> Item:
    """A canonical project with the facet values its search document has (``indexer.domain``)."""
    loc = project.location
    located = loc.precision != "none" or loc.country != "FR"
    facets = {
        "theme": frozenset(project.themes), "stage": frozenset([project.stage] if project.stage else []),
        "engineering": frozenset(project.engineering),
        "holder_type": frozenset([project.holder_type] if project.holder_type else []),
        "source": frozenset(s.partner for s in project.sources),
        "country": frozenset([loc.country] if located and loc.country else []),
        "region": frozenset([loc.region_code] if loc.region_code else []),
        "departement": frozenset([loc.departement_code] if loc.departement_code else []),
        "commune": frozenset([loc.commune_code] if loc.commune_code else []),
    }
    return Item(kind="project", id=project.id, title=project.title,
                words=_words(project.title, project.summary, project.description, project.holder_name,
                             loc.commune_name, loc.locality),
                facets=facets, lat=loc.lat, lon=loc.lon,
                place=_place(loc.commune_name or loc.locality, loc.departement_name, loc.country if located else None))


def post_item(post: dict[str, Any]) -> Item:
    """A matchmaking post (a row of ``mm_posts``): its themes and territory are its facets."""
    facets = {"theme": frozenset(post.get("themes") or []),
              "country": frozenset(["FR"] if post.get("commune") or post.get("departement") else []),
              "region": frozenset([post["region"]] if post.get("region") else []),
              "departement": frozenset([post["departement"]] if post.get("departement") else []),
              "commune": frozenset([post["commune"]] if post.get("commune") else [])}
    return Item(kind="post", id=post["id"], title=post["title"],
                words=_words(post.get("title"), post.get("description"), post.get("project_title"),
                             post.get("commune_name"), " ".join(post.get("skills") or [])),
                facets=facets, lat=post.get("lat"), lon=post.get("lon"),
                place=_place(post.get("commune_name"), post.get("departement_name")))


# --------------------------------------------------------------------------- matching


def _word_matches(token: str, words: frozenset[str]) -> bool:
    if token in words:
        return True
    root = stem(token)
    return any(w.startswith(token) or stem(w) == root for w in words)




def matches(query: SearchQuery, item: Item) -> bool:
    """Does ``item`` answer the saved search ``query``: every word, every filtered facet, the place."""
    for facet, values in query.filters.items():
        if item.kind == "post" and facet not in POST_FACETS:
            return False
        if not item.facets.get(facet, frozenset()) & set(values):
            return False
    if query.geo is not None and query.geo.radius_km is not None:
        if item.lat is None or item.lon is None:
            return False
        if haversine_km(query.geo.lat, query.geo.lon, item.lat, item.lon) > query.geo.radius_km:
            return False
    if query.bbox is not None:
        b = query.bbox
        if item.lat is None or item.lon is None or not (b.min_lat <= item.lat <= b.max_lat
                                                        and b.min_lon <= item.lon <= b.max_lon):
            return False
    return all(_word_matches(t, item.words) for t in query.tokens)


# --------------------------------------------------------------------------- gate keys


def _cells(min_lat: float, max_lat: float, min_lon: float, max_lon: float) -> list[str] | None:
    lats = range(math.floor(min_lat), math.floor(max_lat) + 1)
    lons = range(math.floor(min_lon), math.floor(max_lon) + 1)
    if len(lats) * len(lons) > MAX_GEO_CELLS:
        return None
    return [f"g:{a}:{o}" for a in lats for o in lons]


def gates(query: SearchQuery, count: int = 2) -> list[list[str]]:
    """Keys of the search's ``count`` most selective requirements: a matching item carries at least
    one key of each (``item_keys``). The consumer looks searches up by the first (a GIN index) and
    filters on the second in the same statement. Empty when no requirement can gate (the search is
    then a candidate for every change: one-letter words, a radius of thousands of kilometres)."""
    options: dict[str, list[str]] = {f"{facet}": [f"f:{facet}:{v}" for v in values]
                                     for facet, values in query.filters.items()}
    long_tokens = [t for t in query.tokens if len(t) >= 3]
    if long_tokens:
        token = max(long_tokens, key=len)
        options["word"] = sorted({f"w:{token[:3]}", f"w:{stem(token)[:3]}"})
    if query.geo is not None and query.geo.radius_km is not None:
        cells = _cells(*query.geo.bounds())
        if cells:
            options["geo"] = cells
    elif query.bbox is not None:
        b = query.bbox
        cells = _cells(b.min_lat, b.max_lat, b.min_lon, b.max_lon)
        if cells:
            options["geo"] = cells
    return [options[name] for name in GATE_ORDER if options.get(name)][:count]


def gate(query: SearchQuery) -> list[str]:
    """The first of :func:`gates` (empty when none)."""
    found = gates(query, 1)
    return found[0] if found else []


def item_keys(item: Item) -> list[str]:
    keys = {f"f:{facet}:{v}" for facet, values in item.facets.items() for v in values}
    for w in item.words:
        keys.add(f"w:{w[:3]}")
        keys.add(f"w:{stem(w)[:3]}")
    if item.lat is not None and item.lon is not None:
        keys.add(f"g:{math.floor(item.lat)}:{math.floor(item.lon)}")
    return sorted(keys)


# --------------------------------------------------------------------------- descriptions, digest


def describe(pairs: list[tuple[str, str]], labels: dict[str, dict[str, str]], titles: dict[str, str]) -> str:
    """A saved search in French: « jardin » · Thématique : Alimentation · 30 km autour d'un point."""
    single = dict(pairs)
    parts = []
    if single.get("q"):
        parts.append(f"« {single['q']} »")
    for facet in FACET_FIELDS:
        values = [v for k, v in pairs if k == facet]
        if values:
            parts.append(f"{titles.get(facet, facet)} : {', '.join(labels.get(facet, {}).get(v, v) for v in values)}")
    if single.get("radius_km"):
        parts.append(f"{single['radius_km']} km autour de {single.get('lat')}, {single.get('lon')}")
    if single.get("bbox"):
        parts.append("zone de la carte")
    return " · ".join(parts) or "toute la recherche"


def search_url(base: str, pairs: list[tuple[str, str]], **extra: str) -> str:
    return f"{base}/?{urlencode([*pairs, *extra.items()])}"


CHANGE_LABELS = {"new": "nouveau", "changed": "mis à jour"}
KIND_LABELS = {"project": "Projet", "post": "Annonce"}


def digest_mail(name: str, frequency: str, items: list[dict[str, Any]], more: int, base: str,
                pairs: list[tuple[str, str]], unsubscribe_url: str) -> tuple[str, str]:
    """Subject and body of a digest: each item (kind, change, title, place, link), how many more
    there are beyond :data:`DIGEST_MAX_ITEMS` with the link to all of them, and the unsubscribe link."""
    total = len(items) + more
    subject = f"Carrefour — {total} nouveauté{'s' if total > 1 else ''} pour votre alerte « {name} »"
    lines = ["Bonjour,", "", f"Votre alerte « {name} » ({FREQUENCY_LABELS[frequency]}) a trouvé "
             f"{total} projet{'s' if total > 1 else ''} ou annonce{'s' if total > 1 else ''} nouveaux ou mis à jour :", ""]
    for it in items:
        path = f"/projets/{it['item_id']}" if it["item_kind"] == "project" else f"/annonces/{it['item_id']}"
        where = f" ({it['place']})" if it.get("place") else ""
        lines += [f"- [{KIND_LABELS[it['item_kind']]}, {CHANGE_LABELS[it['change']]}] {it['title']}{where}",
                  f"  {base}{path}"]
    if more:
        lines += ["", f"… et {more} autre{'s' if more > 1 else ''} : toute la recherche, les plus récents d'abord :",
                  search_url(base, pairs, sort="newest")]
    lines += ["", f"Voir la recherche : {search_url(base, pairs)}", "",
              f"Ne plus recevoir cette alerte (un clic, sans connexion) : {unsubscribe_url}", ""]
    return subject, "\n".join(lines)


# --------------------------------------------------------------------------- unsubscribe token


def _mac(key: str, search_id: int, nonce: str) -> str:
    return hmac.new(key.encode(), f"alert-unsubscribe:{search_id}:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_token(key: str, search_id: int, nonce: str) -> str:
    """``<id>.<mac>``: signed with the platform's key over the search's random nonce, so a link
    works without a login, survives restarts, and cannot be made for another search."""
    return f"{search_id}.{_mac(key, search_id, nonce)}"


def token_id(token: str) -> int | None:
    """The search id a token names (None when it is not shaped like one); check with :func:`token_valid`."""
    head, sep, mac = token.partition(".")
    if not sep or not head.isdigit() or len(head) > 18 or len(mac) != 32:
        return None
    return int(head)


def token_valid(key: str, token: str, nonce: str) -> bool:
    search_id = token_id(token)
    return search_id is not None and hmac.compare_digest(token, unsubscribe_token(key, search_id, nonce))
