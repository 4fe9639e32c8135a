"""Places in free text and abroad, on two hand-written sets (tests/data/geocoding/freetext/):
``dev.csv`` (developed on) and ``test.csv`` (a frozen split written before the code, not tuned on).
Expected: an INSEE code, ``none`` (must stay unlocated), or ``abroad:ISO:City``.

Figures for both splits: ``.venv/bin/python -m pytest tests/unit/test_geocoder_freetext.py -q -s``
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from libs.contracts.events import NormalizedProject
from services.geocoder import abroad
from services.geocoder.domain import Geocoder
from services.geocoder.gazetteer import default_gazetteer, normalize_name

DATA = Path(__file__).resolve().parents[1] / "data" / "geocoding" / "freetext"


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder(default_gazetteer())


def rows(split: str) -> list[dict]:
    with open(DATA / f"{split}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def project(row: dict) -> NormalizedProject:
    fields = {k: row[k] or None for k in ("commune", "postcode", "address", "country")}
    return NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title=row["title"],
                             description=row["description"], content_hash="h", **fields)


def grade(geocoder: Geocoder, split: str) -> dict:
    out = {"text": 0, "text_right": 0, "text_wrong": 0, "none": 0, "none_kept": 0,
           "abroad": 0, "abroad_in_france": 0, "abroad_city_right": 0, "problems": []}
    for row in rows(split):
        loc = geocoder.geocode(project(row))
        expected = row["expected"]
        got = loc.commune_code if loc.country == "FR" else f"abroad:{loc.country}:{loc.locality}"
        if expected.startswith("abroad:"):
            _, cc, city = expected.split(":", 2)
            out["abroad"] += 1
            out["abroad_in_france"] += loc.country == "FR"
            right = loc.country == cc and normalize_name(loc.locality or "") in {
                normalize_name(city), *(normalize_name(c.name) for c in abroad.cities_named(normalize_name(city))
                                        if c.country == cc)}
            out["abroad_city_right"] += right
        elif expected == "none":
            out["none"] += 1
            out["none_kept"] += loc.commune_code is None
            right = loc.commune_code is None
        else:
            out["text"] += 1
            right = loc.commune_code == expected
            out["text_right"] += right
            out["text_wrong"] += loc.commune_code is not None and not right
        if not right:
            out["problems"].append(f"{row['title'][:50]!r}: got {got} ({loc.method}), expected {expected}")
    return out


@pytest.mark.parametrize("split", ["dev", "test"])
def test_places_in_free_text_and_abroad(geocoder, split) -> None:
    g = grade(geocoder, split)
    located = g["text"] + g["none"]
    print(f"\n{split:5} place in title/text: {g['text_right']}/{g['text']} located right "
          f"({g['text_right'] / g['text']:.0%}), {g['text_wrong']} wrong; no place: {g['none_kept']}/{g['none']} "
          f"left unlocated; wrong overall {g['text_wrong'] + g['none'] - g['none_kept']}/{located}; "
          f"abroad: {g['abroad_in_france']}/{g['abroad']} placed in France, {g['abroad_city_right']}/{g['abroad']} "
          f"in the right city ({g['abroad_city_right'] / g['abroad']:.0%})")
    for p in g["problems"]:
        print(f"    {p}")
    assert g["text_right"] / g["text"] >= 0.9
    assert g["text_wrong"] + g["none"] - g["none_kept"] == 0  # < 1 % of a few dozen: none at all
    assert g["abroad_in_france"] == 0
    assert g["abroad_city_right"] / g["abroad"] >= 0.9


def test_free_text_is_only_used_without_location_fields(geocoder) -> None:
    p = NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title="Un atelier à Redon",
                          commune="Vitré", content_hash="h")
    assert geocoder.geocode(p).commune_code == "35360"
    p = p.model_copy(update={"commune": None})
    loc = geocoder.geocode(p)
    assert loc.commune_code == "35236" and loc.method.startswith("text") and loc.confidence < 0.9
