"""Per-partner mapping tables and the stemmed keyword classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from libs.contracts.events import PartnerRecord
from libs.contracts.keywords import keyword_hits, stem
from libs.contracts.taxonomy import taxonomy
from services.normalizer.classifier import (
    DATA,
    classify,
    mapping_table,
)
from services.normalizer.domain import normalize


def record(**overrides) -> PartnerRecord:
    data = {"source": "avise", "source_record_id": "1", "url": "https://www.avise.org/p", "title": "Projet"}
    data.update(overrides)
    return PartnerRecord.model_validate(data)


def test_every_mapping_file_uses_taxonomy_slugs_only() -> None:
    tax = taxonomy()
    files = sorted((DATA / "mappings").glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for facet, table in data.items():
            for label, slugs in table.items():
                slugs = [slugs] if isinstance(slugs, str) else slugs
                assert set(slugs) <= tax.slugs(facet), (path.name, label)
        mapping_table(path.stem if path.stem != "_common" else None)  # loads without error


def test_partner_table_overrides_the_common_one() -> None:
    # "Territoires" is an Avise label (local economy); nobody else maps it.
    assert classify("theme", ["Territoires"], source="avise").slugs == ["economie-locale-ess"]
    assert classify("theme", ["Territoires"], source="avise").confidence == 1.0
    # Without Avise's table the keyword classifier has nothing for it.
    assert classify("theme", ["Territoires"], source="cerdd").slugs == []


def test_table_lookup_ignores_case_accents_and_punctuation() -> None:
    for label in ("Insertion par l'activité économique", "INSERTION PAR L ACTIVITE ECONOMIQUE", "insertion par l’activité économique !"):
        got = classify("theme", [label], source="esspace")
        assert got.slugs == ["emploi-insertion"] and got.method == "table"


def test_label_known_to_have_no_slug_falls_back_to_text() -> None:
    got = classify("theme", ["Divers"], "Une épicerie solidaire pour les étudiants", source="social-planet")
    assert got.method == "text" and "alimentation" in got.slugs and got.confidence < 0.9


def test_stemming_covers_inflections() -> None:
    assert stem("jardins") == stem("jardin")
    for text in ("jardins partagés", "JARDINAGE", "les jardiniers du quartier"):
        assert "alimentation" in keyword_hits("theme", text), text
    for text in ("logements sociaux", "se loger", "hébergements d'urgence"):
        assert "habitat-logement" in keyword_hits("theme", text), text
    for text in ("personnes âgées", "PERSONNE AGEE", "vieillissement", "bien vieillir"):
        assert "seniors-vieillissement" in keyword_hits("theme", text), text


def test_exact_words_do_not_match_as_prefixes() -> None:
    assert "economie-locale-ess" not in keyword_hits("theme", "essaimage du projet")
    assert "economie-locale-ess" in keyword_hits("theme", "acteurs de l'ESS")
    assert "culture" not in keyword_hits("theme", "sportswear")


def test_text_confidence_grows_with_evidence() -> None:
    one = classify("theme", [], "Un potager")
    three = classify("theme", [], "Un potager, une épicerie et des repas")
    assert one.slugs == three.slugs == ["alimentation"]
    assert 0 < one.confidence < three.confidence <= 0.8


def test_text_keeps_at_most_three_themes_and_only_strong_ones() -> None:
    text = ("jardin jardin jardin potager repas épicerie logement " * 3) + "culture"
    got = classify("theme", [], text)
    assert got.slugs[0] == "alimentation" and len(got.slugs) <= 3 and "culture" not in got.slugs


def test_unclassifiable_record_says_so() -> None:
    p = normalize(record(title="Projet XYZ", themes=["Zorglub"], stage="Phase gamma", holder={"kind": "Autre chose"}))
    assert p.themes == [] and p.stage is None and p.holder_type is None
    assert p.unclassified == ["theme", "stage", "holder_type"]
    assert p.taxonomy_confidence == {}


def test_classified_record_carries_its_confidences() -> None:
    p = normalize(record(title="Épicerie", themes=["Zéro déchet"], stage="Projet pérenne", holder={"kind": "Asso loi 1901"}))
    assert p.themes == ["environnement-dechets"] and p.stage == "developpement" and p.holder_type == "association"
    assert p.taxonomy_confidence == {"theme": 1.0, "stage": 1.0, "holder_type": 0.9}
    assert p.unclassified == []


def test_every_demo_label_is_mapped_or_knowingly_empty() -> None:
    """The demo partners' labels are all in a table (so classification of their data is exact)."""
    import json

    from services.crawler.parsing.tabular import map_json_export

    missing = []
    for path in sorted((Path(__file__).resolve().parents[2] / "demo" / "sites").glob("*/projets.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for m in map_json_export(doc, path.parent.name, "projets", {}):
            r = m.record
            if r is None:
                continue
            for facet, labels in (("stage", [r.stage] if r.stage else []), ("engineering", r.engineering),
                                  ("holder_type", [r.holder.kind] if r.holder and r.holder.kind else [])):
                got = classify(facet, labels, source=r.source, multi=facet == "engineering")
                if labels and got.method != "table":
                    missing.append((r.source, facet, labels))
    assert not missing, missing


@pytest.mark.parametrize("facet", ["theme", "stage", "engineering", "holder_type"])
def test_nothing_in_nothing_out(facet) -> None:
    got = classify(facet, [], "")
    assert (got.slugs, got.confidence, got.method) == ([], 0.0, "none")
