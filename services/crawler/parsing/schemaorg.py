"""schema.org structured data in pages (JSON-LD, microdata, RDFa via extruct) → records.

Types kept: Project, Organization, Event, Place (and their usual subtypes). Address and geo are
read from the item, its ``location`` or its ``address``.
"""

from __future__ import annotations

import json
from typing import Any

import extruct
from extruct.utils import parse_xmldom_html

from services.crawler.domain import Mapped
from services.crawler.parsing.common import (
    build_record,
    clean_url,
    decode_text,
    html_to_text,
    record_id_for_url,
    split_labels,
    to_date,
    to_float,
    truncate,
)
from services.crawler.parsing.labels import (
    address_parts,
    field_for,
    put_value,
    split_place,
)

DEFAULT_TYPES = ("Project", "Organization", "Event", "Place")
SUBTYPES = {
    "Project": {"Project", "ResearchProject", "FundingAgency", "FundingScheme"},
    "Organization": {"Organization", "NGO", "Corporation", "LocalBusiness", "EducationalOrganization",
                     "GovernmentOrganization", "NonprofitOrganization", "SportsOrganization"},
    "Event": {"Event", "EducationEvent", "SocialEvent", "Festival", "ExhibitionEvent", "BusinessEvent"},
    "Place": {"Place", "CivicStructure", "Landform", "LocalBusiness", "AdministrativeArea"},
}
_PREFIXES = ("http://schema.org/", "https://schema.org/")


def _short(name: str) -> str:
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def _types(item: dict) -> set[str]:
    t = item.get("@type")
    values = t if isinstance(t, list) else [t]
    return {_short(v) for v in values if isinstance(v, str)}


def _rdfa_items(nodes: list[dict]) -> list[dict]:
    """RDFa from extruct is flat (JSON-LD expanded form): inline blank-node references, shorten keys."""
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, dict) and n.get("@id")}

    def convert(node: dict, depth: int = 0) -> dict:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "@type":
                out["@type"] = [_short(v) for v in (value if isinstance(value, list) else [value])]
                continue
            if key.startswith("@"):
                out[key] = value
                continue
            vals = []
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, dict) and "@value" in v:
                    vals.append(v["@value"])
                elif isinstance(v, dict) and set(v) == {"@id"} and v["@id"] in by_id and depth < 4:
                    vals.append(convert(by_id[v["@id"]], depth + 1))
                elif isinstance(v, dict) and set(v) == {"@id"}:
                    vals.append(v["@id"])
                else:
                    vals.append(v)
            out[_short(key)] = vals[0] if len(vals) == 1 else vals
        return out

    referenced = {v.get("@id") for n in nodes for vs in n.values() if isinstance(vs, list)
                  for v in vs if isinstance(v, dict) and set(v) == {"@id"}}
    return [convert(n) for n in nodes if isinstance(n, dict) and n.get("@id") not in referenced]


def _flatten(items: list) -> list[dict]:
    out: list[dict] = []
    for item in items:
        if isinstance(item, list):
            out.extend(_flatten(item))
        elif isinstance(item, dict):
            if "@graph" in item:
                out.extend(_flatten(item["@graph"] if isinstance(item["@graph"], list) else [item["@graph"]]))
            else:
                out.append(item)
    return out


def extract_items(body: bytes | str, url: str, types: tuple[str, ...] = DEFAULT_TYPES) -> list[dict]:
    """The schema.org items of the wanted types in a page, whatever the syntax."""
    try:
        raw = (decode_text(body) if isinstance(body, bytes) else body).encode("utf-8")
        tree = parse_xmldom_html(raw, encoding="UTF-8")  # the tree extruct's RDFa reader needs
    except Exception:  # noqa: BLE001 — lxml raises several types on broken pages; no data then
        return []
    jsonld = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:  # one broken block must not hide the others
            jsonld.append(json.loads(script.text_content(), strict=False))
        except ValueError:
            continue
    # microdata and RDFa readers are costly (RDFa ~10 ms a page): run them only on pages using them
    markup = raw.lower()
    syntaxes = [name for name, marks in (("microdata", (b"itemscope",)), ("rdfa", (b"typeof=", b"vocab=")))
                if any(m in markup for m in marks)]
    data = {}
    if syntaxes:
        try:
            data = extruct.extract(tree, base_url=url, syntaxes=syntaxes, uniform=True, errors="ignore")
        except Exception:  # noqa: BLE001 — a page without readable data gives nothing
            data = {}
    items = _flatten(jsonld) + _flatten(data.get("microdata", [])) + _rdfa_items(data.get("rdfa", []))
    wanted = set().union(*(SUBTYPES.get(t, {t}) for t in types))
    return [i for i in items if _types(i) & wanted]


def _first(value: Any) -> Any:
    while isinstance(value, list):
        value = value[0] if value else None
    return value


def _text(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, (int, float)):
        value = str(value)
    return html_to_text(value) if isinstance(value, str) else None


def _postal(addr: dict, out: dict[str, Any]) -> None:
    street = _text(addr.get("streetAddress"))
    out.setdefault("address", street)
    out.setdefault("postcode", _text(addr.get("postalCode")))
    out.setdefault("commune", _text(addr.get("addressLocality")))
    out.setdefault("country", _text(addr.get("addressCountry")))


def _one_line(value: str, out: dict[str, Any]) -> None:
    """``12 rue Carnot, 21000 Dijon`` → address, postcode, commune (and a trailing country)."""
    out.setdefault("address", truncate(value, 300))
    for key, part in address_parts(value).items():
        out.setdefault(key, part)


def _address(item: dict) -> dict:
    """Address and geo from the item, its ``location`` (a Place, a PostalAddress or a line of text,
    alone or in a list) or its ``address``; else the place it serves (``areaServed``)."""
    out: dict[str, Any] = {}
    candidates = [item]
    locations = item.get("location")
    for loc in locations if isinstance(locations, list) else [locations]:
        if isinstance(loc, dict):
            candidates.append(loc)
        elif isinstance(loc, str) and loc.strip():
            _one_line(html_to_text(loc) or "", out)
    for c in candidates:
        if c is not item and _types(c) & {"PostalAddress"}:
            _postal(c, out)
            continue
        addr = _first(c.get("address"))
        if isinstance(addr, dict):
            _postal(addr, out)
        elif isinstance(addr, str):
            _one_line(html_to_text(addr) or "", out)
        geo = _first(c.get("geo"))
        if isinstance(geo, dict) and "lat" not in out:
            lat, lon = to_float(_first(geo.get("latitude"))), to_float(_first(geo.get("longitude")))
            if lat is not None and lon is not None:
                out["lat"], out["lon"] = lat, lon
    if not out.get("commune"):
        served = _first(item.get("areaServed"))
        if isinstance(served, dict) and isinstance(_first(served.get("address")), dict):
            _postal(_first(served["address"]), out)
        name = _text(served)
        if name and not out.get("commune"):
            place = split_place(name)
            out["commune"] = place.get("commune")
            if place.get("postcode"):
                out.setdefault("postcode", place["postcode"])
    return {k: v for k, v in out.items() if v is not None}


def additional_properties(item: dict) -> dict[str, Any]:
    """``additionalProperty`` PropertyValues whose name (or propertyID) is a known label → fields."""
    found: dict[str, Any] = {}
    props = item.get("additionalProperty")
    for prop in props if isinstance(props, list) else [props]:
        if not isinstance(prop, dict):
            continue
        target = None
        for key in ("name", "propertyID"):
            label = _text(prop.get(key))
            target = field_for(label) if label else None
            if target:
                break
        value = prop.get("value")
        if isinstance(value, dict):
            value = _text(value)
        if target and value not in (None, ""):
            put_value(found, target, value)
    return found


def item_fields(item: dict, page_url: str) -> dict[str, Any]:
    """Platform fields of one schema.org item (not validated yet)."""
    types = _types(item)
    url = _text(item.get("url")) or page_url
    ident = _text(item.get("identifier"))
    node_id = item.get("@id") if isinstance(item.get("@id"), str) and not item["@id"].startswith("_:") else None
    holder = None
    for key in ("founder", "funder", "organizer", "sponsor", "parentOrganization", "creator", "author"):
        h = _first(item.get(key))
        if isinstance(h, dict) and _text(h.get("name")):
            holder = {"name": truncate(_text(h.get("name")), 200), "kind": _first(sorted(_types(h))) or None}
            break
        if isinstance(h, str):
            holder = {"name": truncate(html_to_text(h), 200)}
            break
    if holder is None and types & SUBTYPES["Organization"]:
        holder = {"name": truncate(_text(item.get("name")), 200), "kind": "Organization"}
    contact_point = _first(item.get("contactPoint"))
    cp = contact_point if isinstance(contact_point, dict) else {}
    website = _text(item.get("sameAs")) if types & SUBTYPES["Organization"] else None
    contact = {"email": (_text(item.get("email")) or _text(cp.get("email")) or "").removeprefix("mailto:") or None,
               "phone": _text(item.get("telephone")) or _text(cp.get("telephone")),
               "website": website}
    keywords = item.get("keywords")
    extra = additional_properties(item)
    themes = split_labels(keywords) + split_labels(
        [_text(a) for a in (item.get("about") if isinstance(item.get("about"), list) else [item.get("about")]) if a])
    themes += extra.pop("themes", [])
    address = _address(item)
    for key in ("commune", "postcode", "address", "country"):
        if key in extra and not address.get(key):
            address[key] = extra[key]
    if holder is None and extra.get("holder.name"):
        holder = {"name": truncate(extra["holder.name"], 200)}
    contact["email"] = contact["email"] or extra.get("contact.email")
    contact["phone"] = contact["phone"] or extra.get("contact.phone")
    return {
        "source_record_id": ident or (record_id_for_url(node_id) if node_id else None) or record_id_for_url(url),
        "url": clean_url(url),
        "title": truncate(_text(item.get("name")) or _text(item.get("headline")) or "", 300),
        "description": truncate(_text(item.get("description")), 20_000),
        **address,
        "stage": truncate(extra.get("stage"), 100),
        "themes": [truncate(t, 100) for t in themes][:30],
        "holder": holder,
        "contact": contact,
        "published_at": to_date(_first(item.get("datePublished") or item.get("foundingDate") or item.get("startDate"))),
        "updated_at": to_date(_first(item.get("dateModified"))),
    }


PROPERTIES = {
    "source_record_id": "identifier|@id|url", "url": "url", "title": "name|headline", "description": "description",
    "address": "location|address", "commune": "location|address|areaServed|additionalProperty",
    "postcode": "location|address|additionalProperty", "country": "address.addressCountry",
    "lat": "geo", "lon": "geo", "themes": "keywords|about|additionalProperty", "stage": "additionalProperty",
    "holder": "founder|organizer|…", "contact": "email|telephone|contactPoint",
    "published_at": "datePublished|foundingDate|startDate", "updated_at": "dateModified",
}
"""Where each field is read from in a schema.org item (what ``crawler preview`` shows)."""


def page_records(body: bytes | str, url: str, source: str, types: tuple[str, ...] = DEFAULT_TYPES) -> list[Mapped]:
    """Every wanted item of a page as a record. Items sharing an id: the first wins."""
    items = extract_items(body, url, types)
    # a page describing one project often also describes its organisation: prefer Project first
    order = {t: i for i, t in enumerate(types)}
    items.sort(key=lambda it: min((order.get(k, 99) for k in _main_types(it)), default=99))
    out, ids = [], set()
    for item in items:
        fields = item_fields(item, url)
        m = build_record(item, source, fields)
        kind = min(_types(item)) if _types(item) else "item"
        m = Mapped(m.raw, m.record, m.error, m.raw_id,
                   sources={k: f"schema.org {kind}.{PROPERTIES.get(k, k)}"
                            for k, v in fields.items() if v not in (None, "", [], {})})
        key = m.raw_id
        if key in ids:
            continue
        ids.add(key)
        out.append(m)
    return out


def _main_types(item: dict) -> list[str]:
    return [main for main, subs in SUBTYPES.items() if _types(item) & subs]


def page_types(body: bytes | str) -> set[str]:
    """Every JSON-LD ``@type`` of a page (``CollectionPage``, ``NewsArticle``...), whatever is kept."""
    text = decode_text(body) if isinstance(body, bytes) else body
    if "application/ld+json" not in text:
        return set()
    try:
        tree = parse_xmldom_html(text.encode("utf-8"), encoding="UTF-8")
    except Exception:  # noqa: BLE001
        return set()
    found: set[str] = set()

    def walk(node: Any, depth: int = 0) -> None:
        if depth > 6:
            return
        if isinstance(node, list):
            for n in node:
                walk(n, depth + 1)
        elif isinstance(node, dict):
            if "@type" in node:
                found.update(_types(node))
            for key in ("@graph", "mainEntity"):
                if key in node:
                    walk(node[key], depth + 1)

    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            walk(json.loads(script.text_content(), strict=False))
        except ValueError:
            continue
    return found
