"""Pure geocoding: partner location fields → Location, offline, from the gazetteer.

Order of evidence: a foreign ``country`` field (abroad, kept with its country); the partner's
``commune`` and ``postcode`` fields, then its free ``address`` (both through
:class:`~services.geocoder.resolver.Resolver`: messy strings, typos, arrondissements, EPCI,
départements, régions); then the partner's coordinates, checked against the commune found and
reverse-located (point in polygon) to a commune when the text said less than that. Every
Location carries a ``precision``, a ``confidence`` (0-1) and the ``method`` used.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.contracts.events import Location, NormalizedProject
from libs.contracts.geo import haversine_km
from services.geocoder import abroad, freetext
from services.geocoder.gazetteer import Commune, Gazetteer, normalize_name
from services.geocoder.resolver import (
    COUNTRY_CODES,
    FRANCE_NAMES,
    Match,
    Resolver,
    country_code,
)
from services.geocoder.reverse import Outlines, default_outlines

__all__ = ["COUNTRY_CODES", "FRANCE_NAMES", "MAX_PARTNER_OFFSET_KM", "Geocoder", "geocode", "haversine_km"]

MAX_PARTNER_OFFSET_KM = 80.0
"""Partner coordinates further than this from the commune centroid are distrusted (swapped or
wrong). Generous because overseas communes are vast (Saint-Laurent-du-Maroni: 60 km to town)."""
MAX_PARTNER_OFFSET_FROM_DEPARTEMENT_KM = 300.0
"""The same check when only the département is known, from its centroid: its farthest commune
(in Guyane) is 211 km away, plus the commune allowance above."""
MAX_PARTNER_OFFSET_FROM_REGION_KM = 600.0
SURE = 0.9
"""Text matches at or above this confidence are trusted over partner coordinates that fall in
another (nearby) commune; below it, the commune containing the coordinates wins."""
REGION_PRECISION = "region"


def _from_commune(c: Commune, method: str, postcode: str | None, confidence: float) -> Location:
    return Location(
        commune_code=c.code, commune_name=c.name,
        postcode=postcode if postcode in c.postcodes else (c.postcodes[0] if c.postcodes else None),
        departement_code=c.departement, departement_name=c.departement_name,
        region_code=c.region, region_name=c.region_name,
        lat=c.lat, lon=c.lon, precision="commune" if c.precision == "commune" else "departement",
        method=method, confidence=confidence,
    )


def _to_location(m: Match, gaz: Gazetteer, partner_postcode: str | None) -> Location:
    if m.commune is not None:
        loc = _from_commune(m.commune, m.method, m.postcode or partner_postcode, m.confidence)
        if m.precision == "postcode" and loc.precision == "commune":
            loc = loc.model_copy(update={"precision": "postcode"})
        return loc
    if m.departement is not None:
        d = m.departement
        return Location(
            postcode=m.postcode, departement_code=d.code, departement_name=d.name, region_code=d.region,
            region_name=d.region_name, lat=d.lat, lon=d.lon, precision="departement", method=m.method,
            confidence=m.confidence,
        )
    if m.region is not None:
        r = m.region
        return Location(region_code=r.code, region_name=r.name, lat=r.lat, lon=r.lon,
                        precision=REGION_PRECISION, method=m.method, confidence=m.confidence)
    if m.country is not None:
        return Location(country=m.country, precision="country", method=m.method, confidence=m.confidence)
    return Location(precision="none", method="none", confidence=0.0)


class Geocoder:
    """Gazetteer + free-text resolver + (lazily loaded) outlines for reverse geocoding."""

    def __init__(self, gaz: Gazetteer, outlines: Outlines | None = None, outlines_loader=None) -> None:
        self.gaz = gaz
        self.resolver = Resolver(gaz)
        self._outlines = outlines
        self._loader = outlines_loader

    @property
    def outlines(self) -> Outlines | None:
        if self._outlines is None and self._loader is not None:
            self._outlines = self._loader()
        return self._outlines

    def reverse(self, lat: float, lon: float) -> Commune | None:
        """The commune (or arrondissement) whose outline contains the point, if any."""
        o = self.outlines
        code = o.locate(lat, lon) if o is not None else None
        return self.gaz.by_code(code) if code else None

    def match_text(self, project: NormalizedProject) -> Match:
        r = self.resolver
        m = r.resolve(project.commune, project.postcode) if project.commune else None
        if m is None or not m.found or (m.precision != "commune" and project.address):
            from_address = r.resolve(project.address, project.postcode) if project.address else None
            if from_address is not None and from_address.found and (
                m is None or not m.found or _rank(from_address) < _rank(m)
            ):
                m = from_address
        if (m is None or not m.found) and project.postcode:
            m = r.resolve(None, project.postcode)
        return m or Match()

    def geocode(self, project: NormalizedProject) -> Location:
        has_coords = project.lat is not None and project.lon is not None
        away = abroad.locate(self.gaz, project.country, project.commune, project.postcode, project.address)
        if away is not None:
            if has_coords:
                return Location(country=away.country, locality=away.city, lat=project.lat, lon=project.lon,
                                precision="coordinates", method=away.method, confidence=0.9)
            return Location(country=away.country, locality=away.city, lat=away.lat, lon=away.lon,
                            precision="commune" if away.city else "country", method=away.method,
                            confidence=away.confidence)
        foreign = country_code(project.country)
        if foreign:
            return Location(country=foreign, lat=project.lat, lon=project.lon,
                            precision="coordinates" if has_coords else "country", method="abroad",
                            confidence=0.9 if has_coords else 0.8)
        m = self.match_text(project)
        if not m.found and not has_coords and not (project.commune or project.address or project.postcode):
            found = freetext.locate(self.resolver, project.title, f"{project.summary}\n{project.description}")
            if found is not None:
                return _to_location(found, self.gaz, None)
        if m.country is not None and has_coords:
            return Location(country=m.country, lat=project.lat, lon=project.lon, precision="coordinates",
                            method=m.method, confidence=m.confidence)
        loc = _to_location(m, self.gaz, project.postcode)
        if not has_coords or project.lat is None or project.lon is None:
            return loc
        return self._with_coordinates(loc, m, project.lat, project.lon)

    def _with_coordinates(self, loc: Location, m: Match, lat: float, lon: float) -> Location:
        inside = self.reverse(lat, lon)
        same = inside is not None and loc.commune_code is not None and (
            inside.code == loc.commune_code or inside.parent == loc.commune_code
        )
        if loc.commune_code is not None:
            if same:
                conf = max(loc.confidence or 0.0, 0.97)
                return loc.model_copy(update={"lat": lat, "lon": lon, "precision": "coordinates",
                                                  "method": f"{loc.method}+coordinates", "confidence": conf})
            near = loc.lat is None or loc.lon is None or haversine_km(lat, lon, loc.lat, loc.lon) <= MAX_PARTNER_OFFSET_KM
            if inside is not None and m.commune is not None and "ambiguous" in m.method and (
                normalize_name(inside.name) == normalize_name(m.commune.name)
            ):
                # A homonym picked by population ("Saint-Denis"): the point says which one.
                out = _from_commune(inside, f"{m.method}+coordinates", loc.postcode if loc.postcode in inside.postcodes else None, 0.95)
                return out.model_copy(update={"lat": lat, "lon": lon, "precision": "coordinates"})
            if inside is not None and (m.confidence < SURE or m.commune is None or m.commune.kind == "ARM"
                                       or m.precision == "postcode") and near:
                # The text was unsure (homonym, typo, postcode of several communes): the point decides.
                keep_pc = loc.postcode if loc.postcode in inside.postcodes else None
                out = _from_commune(inside, f"coordinates-in-commune (text said {loc.commune_code})", keep_pc,
                                    0.85 if inside.departement == loc.departement_code else 0.6)
                return out.model_copy(update={"lat": lat, "lon": lon, "precision": "coordinates"})
            if near:
                return loc.model_copy(update={
                    "lat": lat, "lon": lon, "precision": "coordinates", "method": f"{loc.method}+coordinates",
                    "confidence": round(min(loc.confidence or 0.0, 0.9) if inside is not None else (loc.confidence or 0.0), 3),
                })
            return loc.model_copy(update={"method": f"{loc.method}; partner coordinates too far, ignored",
                                              "confidence": round(min(loc.confidence or 0.0, 0.7), 3)})
        # The text gave a département, a région or nothing: the point gives the commune if it is in one.
        if inside is not None:
            agrees = (loc.departement_code in (None, inside.departement)) and (loc.region_code in (None, inside.region))
            if agrees:
                out = _from_commune(inside, "coordinates-in-commune" + (f" ({loc.method})" if loc.method != "none" else ""),
                                    loc.postcode, 0.9 if loc.method != "none" else 0.85)
                return out.model_copy(update={"lat": lat, "lon": lon, "precision": "coordinates"})
        if loc.departement_code is not None or loc.region_code is not None:
            limit = MAX_PARTNER_OFFSET_FROM_DEPARTEMENT_KM if loc.departement_code else MAX_PARTNER_OFFSET_FROM_REGION_KM
            if loc.lat is None or loc.lon is None or haversine_km(lat, lon, loc.lat, loc.lon) <= limit:
                return loc.model_copy(update={"lat": lat, "lon": lon, "precision": "coordinates"})
            return loc.model_copy(update={"method": f"{loc.method}; partner coordinates too far, ignored",
                                              "confidence": round(min(loc.confidence or 0.0, 0.5), 3)})
        return Location(lat=lat, lon=lon, precision="coordinates", method="coordinates-only", confidence=0.5)


@dataclass(frozen=True, slots=True)
class OnlineHit:
    """The best answer of an online (addok/BAN) geocoder."""

    lat: float
    lon: float
    score: float  # 0-1, addok's
    kind: str  # housenumber | street | locality | municipality
    citycode: str | None
    postcode: str | None
    label: str


ONLINE_PRECISE_KINDS = ("housenumber", "street", "locality")


def wants_online(project: NormalizedProject, loc: Location) -> bool:
    """The online geocoder can add something: a French street address, and no better point yet."""
    return bool(project.address) and loc.country == "FR" and loc.precision not in ("coordinates", "address")


def online_query(project: NormalizedProject, loc: Location) -> tuple[str, str | None, str | None]:
    """(q, postcode, citycode) for the online geocoder, narrowed by what the gazetteer found."""
    q = " ".join(x for x in (project.address, project.postcode, project.commune) if x)
    citycode = loc.commune_code if loc.commune_code and (loc.confidence or 0) >= SURE else None
    return q, None if citycode else loc.postcode, citycode


def merge_online(loc: Location, hit: OnlineHit | None, gaz: Gazetteer, min_score: float = 0.5) -> Location:
    """Street-level point from the online geocoder when it is sure and agrees with the gazetteer."""
    if hit is None or hit.score < min_score or hit.kind not in ONLINE_PRECISE_KINDS:
        return loc
    commune = gaz.by_code(hit.citycode) if hit.citycode else None
    if commune is None:
        return loc
    agrees = loc.commune_code in (None, commune.code, commune.parent) or (
        commune.parent is None and (mine := gaz.by_code(loc.commune_code)) is not None
        and mine.parent == commune.code
    )
    if not agrees and (loc.confidence or 0) >= SURE:
        return loc.model_copy(update={"method": f"{loc.method}; online geocoder disagreed ({hit.citycode}), ignored"})
    base = loc if agrees and loc.commune_code else _from_commune(commune, "online", hit.postcode, 0.0)
    return base.model_copy(update={
        "lat": hit.lat, "lon": hit.lon, "precision": "address", "method": f"{loc.method}+online({hit.kind})",
        "postcode": hit.postcode if hit.postcode else base.postcode,
        "confidence": round(max(min(hit.score, 0.99), loc.confidence or 0.0) if agrees else hit.score * 0.8, 3),
    })


def _rank(m: Match) -> int:
    return {"commune": 0, "postcode": 1, "departement": 2, "region": 3, "country": 4}.get(m.precision, 9)


_geocoders: dict[int, Geocoder] = {}


def _geocoder_for(gaz: Gazetteer) -> Geocoder:
    g = _geocoders.get(id(gaz))
    if g is None or g.gaz is not gaz:
        g = _geocoders[id(gaz)] = Geocoder(gaz, outlines_loader=default_outlines)
    return g


def geocode(project: NormalizedProject, gaz: Gazetteer) -> Location:
    """Geocode one project with the gazetteer (outlines loaded on the first coordinates seen)."""
    return _geocoder_for(gaz).geocode(project)

