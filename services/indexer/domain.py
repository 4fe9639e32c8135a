"""Pure indexing logic: merge policy of a cluster, search documents. No I/O.

Which records form a cluster is decided by scored matching in ``services.indexer.dedup``
(blocking, Fellegi-Sunter scores, constrained clustering, stable ids). Fields are merged by source
precedence (the oldest source first; the holder's edits above all, laid over by the indexer);
each merged field records which source it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from libs.contracts.events import (
    CanonicalProject,
    Contact,
    Location,
    NormalizedProject,
    SourceRef,
)
from libs.contracts.search import SearchDocument, country_name
from libs.contracts.taxonomy import taxonomy
from services.indexer.dedup import new_canonical_id as canonical_id  # noqa: F401  (re-exported)

PRECISION_RANK = {"coordinates": 0, "address": 1, "commune": 2, "postcode": 3, "departement": 4, "region": 5,
                  "country": 6, "none": 7}


@dataclass(frozen=True)
class Member:
    record_key: str
    project: NormalizedProject
    location: Location
    first_seen: datetime
    last_seen: datetime


def _website(m) -> str | None:
    return m.project.contact.website if m.project.contact is not None else None


def _email(m) -> str | None:
    return m.project.contact.email if m.project.contact is not None else None


def merge(cid: str, members: list[Member], updated_at: datetime) -> CanonicalProject:
    """One canonical view of the records of a cluster, with the provenance of every field.

    Source precedence, so that no partner can take over a project by publishing a look-alike
    record: every field comes from the oldest source that has it (first seen, then record key);
    a newer source only refines the location inside the oldest source's commune (more precise,
    never elsewhere). The holder's own edits are laid over all of this by the indexer
    (``holder_edits``). The contact is the oldest source's; ``contact_agreed`` says whether every
    source publishing an e-mail publishes that one (claim confirmations go only to an agreed one)."""
    if not members:
        raise ValueError("cannot merge an empty cluster")
    ordered = sorted(members, key=lambda m: (m.first_seen, m.record_key))
    first = ordered[0]
    with_desc = [m for m in ordered if m.project.description or m.project.summary]
    by_desc = with_desc[0] if with_desc else first
    by_loc = _location(ordered)
    with_stage = [m for m in ordered if m.project.stage]
    with_holder = [m for m in ordered if m.project.holder_name]
    with_contact = [m for m in ordered if m.project.contact]
    themes, engineering = _union(ordered, "themes", "theme"), _union(ordered, "engineering", "engineering")
    with_site = [m for m in with_contact if _website(m)]
    src = lambda m: m.record_key
    fields = {"title": src(first), "description": src(by_desc), "location": src(by_loc)}
    stage = holder = contact = None
    if with_stage:
        stage = max(with_stage, key=lambda m: (m.project.updated_at or m.project.published_at or m.first_seen.date(), m.record_key))
        fields["stage"] = src(stage)
    if with_holder:
        holder = with_holder[0]
        fields["holder"] = src(holder)
    # each contact detail from the oldest source publishing it
    parts = {name: next((m for m in with_contact if getattr(m.project.contact, name)), None)
             for name in ("email", "phone", "website")}
    if with_contact:
        contact = Contact(**{n: getattr(m.project.contact, n) for n, m in parts.items() if m})
        fields["contact"] = src(parts["email"] or parts["phone"] or with_contact[0])
    if with_site:
        fields["website"] = src(with_site[0])
    emails = {e.strip().lower() for m in with_contact if (e := _email(m))}
    return CanonicalProject(
        id=cid,
        title=first.project.title,
        summary=by_desc.project.summary,
        description=by_desc.project.description,
        themes=themes,
        stage=stage.project.stage if stage else None,
        engineering=engineering,
        holder_name=holder.project.holder_name if holder else None,
        holder_type=holder.project.holder_type if holder else None,
        contact=contact,
        website=_website(with_site[0]) if with_site else None,
        location=by_loc.location,
        sources=[
            SourceRef(partner=m.project.source, record_id=m.project.source_record_id, url=m.project.url,
                      last_seen=m.last_seen)
            for m in sorted(members, key=lambda m: m.record_key)
        ],
        field_sources=fields,
        contact_agreed=len(emails) <= 1,
        first_seen=min(m.first_seen for m in ordered),
        updated_at=updated_at,
    )


def _location(ordered: list[Member]) -> Member:
    """The oldest source's location, or a more precise one of a newer source in the same commune."""
    first = next((m for m in ordered if m.location.precision != "none"), ordered[0])
    same_place = [m for m in ordered if m.location.commune_code == first.location.commune_code
                  and m.location.country == first.location.country]
    return min(same_place, key=lambda m: PRECISION_RANK[m.location.precision])


def _union(members: list[Member], attr: str, facet: str) -> list[str]:
    order = [t.slug for t in taxonomy().terms(facet)]
    values = {v for m in members for v in getattr(m.project, attr)}
    return sorted(values, key=lambda v: order.index(v) if v in order else len(order))


def same_content(a: CanonicalProject, b: CanonicalProject) -> bool:
    """Equal but for ``updated_at``: a replay or an unchanged record makes no new version."""
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})


def search_document(project: CanonicalProject, version: int) -> SearchDocument:
    loc = project.location
    # a located project's country (its ISO code, as the geocoder gives it); an unlocated one has none
    located = loc.precision != "none" or loc.country != "FR"
    country = loc.country if located and re.fullmatch(r"[A-Z]{2}", loc.country or "") else None
    return SearchDocument(
        id=project.id,
        version=version,
        title=project.title,
        summary=project.summary,
        description=project.description,
        url=project.sources[0].url if project.sources else None,
        theme=project.themes,
        stage=project.stage,
        engineering=project.engineering,
        holder_name=project.holder_name,
        holder_type=project.holder_type,
        source=sorted({s.partner for s in project.sources}),
        country=country,
        country_name=country_name(country),
        locality=loc.locality,
        region=loc.region_code,
        region_name=loc.region_name,
        departement=loc.departement_code,
        departement_name=loc.departement_name,
        commune=loc.commune_code,
        commune_name=loc.commune_name,
        postcode=loc.postcode,
        lat=loc.lat,
        lon=loc.lon,
        first_seen=project.first_seen,
        updated_at=project.updated_at,
    )
