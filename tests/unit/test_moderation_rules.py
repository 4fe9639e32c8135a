"""Pure rules of the deduplication review queue (services/gateway/moderation/rules.py)."""

from __future__ import annotations

import pytest

from services.gateway.moderation import rules


def test_decisions_and_pairs() -> None:
    assert rules.decision("meme") == "same" and rules.decision("differents") == "not_same"
    for bad in (None, "", "same", "oui"):
        with pytest.raises(rules.DecisionError):
            rules.decision(bad)
    assert rules.pair("b-src:2", "a-src:1") == ("a-src:1", "b-src:2")
    for a, b in (("a:1", "a:1"), ("a:1", None), ("A B:1", "a:2"), ("a:1", "../x")):
        with pytest.raises(rules.DecisionError):
            rules.pair(a, b)


def test_explanation_in_french_with_signed_weights() -> None:
    rows = rules.explanation_rows({"comparisons": {
        "title": {"level": "contained", "weight": 2.35}, "place": {"level": "far", "weight": -9.2},
        "holder": {"level": "close", "weight": 0.0}}})
    assert rows[0] == {"label": "Titre", "level": "l'un contient l'autre", "weight": "+2,4", "leans": "same"}
    assert rows[1]["label"] == "Lieu" and rows[1]["weight"] == "−9,2" and rows[1]["leans"] == "different"
    assert rows[2]["leans"] == "neutral"
    # every level the matcher can produce has a French label
    from services.indexer.dedup.scoring import COMPARISONS

    assert {lv for levels in COMPARISONS.values() for lv in levels} <= set(rules.LEVELS)
    assert set(COMPARISONS) <= set(rules.COMPARISONS)


def test_side_by_side_rows() -> None:
    a = {"source": "avise", "project": {"title": "La Forge", "contact": {"email": "a@forge.fr"}},
         "location": {"commune_name": "Tulle", "postcode": "19000"}}
    b = {"source": "cerdd", "project": {"title": "Recyclerie La Forge", "description": "x" * 900}, "location": {}}
    rows = {r["label"]: (r["a"], r["b"]) for r in rules.side_by_side(a, b)}
    assert rows["Partenaire"] == ("avise", "cerdd") and rows["Titre"] == ("La Forge", "Recyclerie La Forge")
    assert rows["Lieu"] == ("19000 Tulle", "—") and rows["E-mail"] == ("a@forge.fr", "—")
    assert len(rows["Description"][1]) == 600
