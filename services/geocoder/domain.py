"""Pure geocoding: partner location fields → Location, offline, from the gazetteer."""

from __future__ import annotations

import math

from libs.contracts.events import Location, NormalizedProject
from services.geocoder.gazetteer import Commune, Gazetteer, normalize_name

FRANCE_NAMES = {
    "", "france", "fr", "fra", "republique francaise", "france metropolitaine",
    "guadeloupe", "martinique", "guyane", "guyane francaise", "la reunion", "reunion", "mayotte",
    "nouvelle caledonie", "polynesie francaise", "saint pierre et miquelon", "saint barthelemy",
    "saint martin", "wallis et futuna",
}
COUNTRY_CODES = {
    "belgique": "BE", "suisse": "CH", "luxembourg": "LU", "allemagne": "DE", "espagne": "ES",
    "italie": "IT", "portugal": "PT", "royaume uni": "GB", "pays bas": "NL", "canada": "CA",
    "maroc": "MA", "algerie": "DZ", "tunisie": "TN", "senegal": "SN", "cote d ivoire": "CI",
    "monaco": "MC", "andorre": "AD", "quebec": "CA", "mali": "ML", "cameroun": "CM",
}
MAX_PARTNER_OFFSET_KM = 80.0
"""Partner coordinates further than this from the commune centroid are distrusted (swapped or
wrong). Generous because overseas communes are vast (Saint-Laurent-du-Maroni: 60 km to town)."""
MAX_PARTNER_OFFSET_FROM_DEPARTEMENT_KM = 300.0
"""The same check when only the département is known, from its centroid: its farthest commune
(in Guyane) is 211 km away, plus the commune allowance above."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _country(name: str | None) -> str | None:
    """ISO code of a foreign country, or None for France (overseas included)."""
    key = normalize_name(name or "")
    if key in FRANCE_NAMES or key.replace("-", " ") in FRANCE_NAMES:
        return None
    return COUNTRY_CODES.get(key, key.upper()[:60] or None)


def _from_commune(c: Commune, method: str, postcode: str | None) -> Location:
    return Location(
        commune_code=c.code, commune_name=c.name,
        postcode=postcode if postcode in c.postcodes else (c.postcodes[0] if c.postcodes else None),
        departement_code=c.departement, departement_name=c.departement_name,
        region_code=c.region, region_name=c.region_name,
        lat=c.lat, lon=c.lon, precision="commune" if c.precision == "commune" else "departement",
        method=method,
    )


def geocode(project: NormalizedProject, gaz: Gazetteer) -> Location:
    has_coords = project.lat is not None and project.lon is not None
    foreign = _country(project.country)
    if foreign:
        return Location(country=foreign, lat=project.lat, lon=project.lon,
                        precision="coordinates" if has_coords else "country", method="abroad")

    commune, method = gaz.resolve(commune=project.commune, postcode=project.postcode)
    if commune is not None:
        loc = _from_commune(commune, method, project.postcode)
        if has_coords:
            if loc.lat is None or haversine_km(project.lat, project.lon, loc.lat, loc.lon) <= MAX_PARTNER_OFFSET_KM:
                return loc.model_copy(update=dict(lat=project.lat, lon=project.lon, precision="coordinates",
                                                  method=f"{method}+coordinates"))
            loc = loc.model_copy(update=dict(method=f"{method}; partner coordinates too far, ignored"))
        return loc

    deps = gaz.departements_for_postcode(project.postcode)
    if len(deps) == 1:
        dep = gaz.departement(next(iter(deps)))
        if dep is not None:
            use_coords = has_coords and (
                dep.lat is None
                or haversine_km(project.lat, project.lon, dep.lat, dep.lon) <= MAX_PARTNER_OFFSET_FROM_DEPARTEMENT_KM
            )
            return Location(
                postcode=project.postcode, departement_code=dep.code, departement_name=dep.name,
                region_code=dep.region, region_name=dep.region_name,
                lat=project.lat if use_coords else dep.lat, lon=project.lon if use_coords else dep.lon,
                precision="coordinates" if use_coords else "departement",
                method="postcode-prefix" + ("; partner coordinates too far, ignored" if has_coords and not use_coords else ""),
            )
    if has_coords:
        return Location(lat=project.lat, lon=project.lon, precision="coordinates", method="coordinates-only")
    return Location(precision="none", method="none")
