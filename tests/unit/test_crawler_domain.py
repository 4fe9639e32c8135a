"""Unit tests for the crawler's pure logic (services/crawler/domain.py) and its config (config.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libs.contracts.events import PartnerRecord
from services.crawler.config import DEFAULT_PARTNERS_FILE, ConfigError, load_partners
from services.crawler.domain import (
    FRENCH_FIELDS,
    content_hash,
    diff,
    dig,
)
from services.crawler.parsing.tabular import map_json_export, map_record

ROOT = Path(__file__).resolve().parents[2]
DEMO_SITES = ROOT / "demo" / "sites"

FULL = {
    "id": "avise-0012",
    "url": "https://www.avise.org/portraits/papa-charlie",
    "titre": "Papa Charlie",
    "description": "Location de matériel de puériculture.",
    "adresse": "28 rue de Charenton",
    "commune": "Paris",
    "code_postal": "75012",
    "pays": "France",
    "latitude": 48.8497,
    "longitude": 2.3762,
    "thematiques": ["Économie circulaire", "Parentalité"],
    "etape": "En développement",
    "ingenierie": ["Ingénierie financière"],
    "porteur": {"nom": "Papa Charlie", "type": "Entreprise sociale"},
    "contact": {"email": "hello@papacharlie.fr", "telephone": "01 84 60 27 13", "site": "https://www.papacharlie.fr"},
    "date_publication": "2019-04-16",
    "date_maj": "2022-02-08",
}


def one(raw, source: str = "avise", fields: dict | None = None):
    [m] = map_json_export({"projets": [raw]}, source, "projets", fields or {})
    return m


def record(**overrides) -> PartnerRecord:
    data = {"source": "avise", "source_record_id": "1", "url": "https://a.fr/1", "title": "Un"}
    data.update(overrides)
    return PartnerRecord.model_validate(data)


# --------------------------------------------------------------------------- dig / mapping


def test_dig() -> None:
    doc = {"a": {"b": {"c": 3}}, "l": [1]}
    assert dig(doc, "a.b.c") == 3
    assert dig(doc, "a.b") == {"c": 3}
    assert dig(doc, "") is doc
    assert dig(doc, "a.x.c") is None
    assert dig(doc, "l.0") is None  # lists are not indexed
    assert dig("text", "a") is None


def test_french_default_fields_map_everything() -> None:
    m = one(FULL)
    assert m.error is None and m.raw_id == "avise-0012" and m.raw is FULL
    r = m.record
    assert r.model_dump(mode="json", exclude_none=True) == {
        "source": "avise",
        "source_record_id": "avise-0012",
        "url": "https://www.avise.org/portraits/papa-charlie",
        "title": "Papa Charlie",
        "description": "Location de matériel de puériculture.",
        "address": "28 rue de Charenton",
        "commune": "Paris",
        "postcode": "75012",
        "country": "France",
        "lat": 48.8497,
        "lon": 2.3762,
        "themes": ["Économie circulaire", "Parentalité"],
        "stage": "En développement",
        "engineering": ["Ingénierie financière"],
        "holder": {"name": "Papa Charlie", "kind": "Entreprise sociale"},
        "contact": {"email": "hello@papacharlie.fr", "phone": "01 84 60 27 13", "website": "https://www.papacharlie.fr"},
        "published_at": "2019-04-16",
        "updated_at": "2022-02-08",
    }
    assert set(FRENCH_FIELDS) >= {"title", "url", "source_record_id", "holder.name", "contact.website"}


def test_numeric_ids_and_postcodes_become_strings() -> None:
    m = one({"id": 42, "url": "https://a.fr/42", "titre": "X", "code_postal": 59100})
    assert m.record.source_record_id == "42"
    assert m.record.postcode == "59100"
    assert m.raw_id == "42"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alimentation, Santé ,  Solidarité", ["Alimentation", "Santé", "Solidarité"]),
        ("Alimentation; Santé", ["Alimentation", "Santé"]),
        ("Alimentation,,  ,", ["Alimentation"]),
        ("Seul", ["Seul"]),
    ],
)
def test_comma_separated_themes_are_split(raw: str, expected: list[str]) -> None:
    m = one({"id": "1", "url": "https://a.fr", "titre": "X", "thematiques": raw, "ingenierie": raw})
    assert m.record.themes == expected
    assert m.record.engineering == expected


def test_empty_optional_fields_are_dropped() -> None:
    m = one({"id": "1", "url": "https://a.fr", "titre": "X", "commune": "", "code_postal": None, "porteur": {"nom": ""},
             "latitude": None, "longitude": None})
    assert m.error is None
    assert m.record.commune is None and m.record.postcode is None and m.record.lat is None
    assert m.record.holder is None


@pytest.mark.parametrize(("missing", "field"), [("url", "url"), ("titre", "title")])
def test_missing_required_field_gives_error_naming_it(missing: str, field: str) -> None:
    raw = {k: v for k, v in FULL.items() if k != missing}
    m = one(raw)
    assert m.record is None
    assert m.error.startswith(f"{field}: ")
    assert "Field required" in m.error


def test_a_row_without_id_or_url_gets_a_content_hash_id_and_the_export_url_with_it() -> None:
    raw = {k: v for k, v in FULL.items() if k not in ("id", "url")}
    m = map_record(raw, "avise", FRENCH_FIELDS, "https://a.fr/export.json")
    rid = m.record.source_record_id
    assert rid.startswith("sha256:") and m.record.url == f"https://a.fr/export.json#{rid.replace(':', '%3A')}"
    assert map_record(dict(raw), "avise", FRENCH_FIELDS, "https://a.fr/export.json").record.source_record_id == rid
    changed = map_record({**raw, "titre": "Autre"}, "avise", FRENCH_FIELDS, "https://a.fr/export.json")
    assert changed.record.source_record_id != rid
    kept = map_record({**raw, "id": "A-7"}, "avise", FRENCH_FIELDS, "https://a.fr/export.json#x")
    assert (kept.record.source_record_id, kept.record.url) == ("A-7", "https://a.fr/export.json#A-7")


@pytest.mark.parametrize(("key", "field"), [("titre", "title"), ("url", "url")])
def test_empty_required_field_is_an_error_not_a_missing_one(key: str, field: str) -> None:
    m = one({**FULL, key: ""})
    assert m.record is None
    assert m.error.startswith(f"{field}: ")


def test_invalid_values_are_reported_with_raw_id() -> None:
    m = one({**FULL, "url": "javascript:alert('xss')", "latitude": 200})
    assert m.record is None and m.raw_id == "avise-0012"
    assert "url: Value error, URL scheme must be http or https" in m.error
    assert "lat: " in m.error


def test_non_object_record() -> None:
    m = map_record(["not", "a", "dict"], "avise", FRENCH_FIELDS)
    assert m.record is None and m.error == "record must be an object, got list"
    [m] = map_json_export({"projets": ["x"]}, "avise", "projets", {})
    assert m.error == "record must be an object, got str"


def test_custom_fields_override_french_defaults() -> None:
    raw = {"ref": 7, "lien": "https://b.fr/7", "nom": "Projet", "meta": {"cp": "35000"}, "titre": "ignored"}
    m = one(raw, source="b", fields={"source_record_id": "ref", "url": "lien", "title": "nom", "postcode": "meta.cp"})
    assert (m.record.source_record_id, m.record.url, m.record.title, m.record.postcode) == ("7", "https://b.fr/7", "Projet", "35000")


def test_records_path_root_and_nested() -> None:
    raw = {"id": "1", "url": "https://a.fr", "titre": "X"}
    assert [m.record.title for m in map_json_export([raw], "a", "", {})] == ["X"]
    assert [m.record.title for m in map_json_export({"data": {"items": [raw, raw]}}, "a", "data.items", {})] == ["X", "X"]
    assert map_json_export({"projets": []}, "a", "projets", {}) == []


@pytest.mark.parametrize(("doc", "path", "shown"), [({"projets": {}}, "projets", "'projets'"), ({}, "x.y", "'x.y'"),
                                                    ({"a": 1}, "", "'<root>'")])
def test_records_path_without_list_raises(doc, path: str, shown: str) -> None:
    with pytest.raises(ValueError, match=f"no list of records at {shown}"):
        map_json_export(doc, "a", path, {})


# --------------------------------------------------------------------------- demo exports


def test_demo_exports_map_to_59_good_and_2_bad_records() -> None:
    good, bad = [], {}
    for path in sorted(DEMO_SITES.glob("*/projets.json")):
        source = path.parent.name
        for m in map_json_export(json.loads(path.read_text(encoding="utf-8")), source, "projets", {}):
            assert (m.record is None) != (m.error is None)
            if m.record is not None:
                assert m.record.source == source
                good.append(m.record)
            else:
                bad[(source, m.raw_id)] = m.error
    assert len(good) == 59
    assert len({r.record_key for r in good}) == 59
    assert sorted(bad) == [("social-planet", "sp-0360"), ("social-planet", "sp-0361")]
    assert bad[("social-planet", "sp-0360")] == "title: String should have at least 1 character"
    assert bad[("social-planet", "sp-0361")] == "url: Value error, URL scheme must be http or https"
    by_source = {}
    for r in good:
        by_source[r.source] = by_source.get(r.source, 0) + 1
    assert by_source == {"avise": 8, "cerdd": 8, "esspace": 8, "fej": 7, "la-fonda": 7, "odas-apriles": 7,
                         "social-planet": 7, "unccas": 7}
    assert sum(r.lat is not None for r in good) >= 15


# --------------------------------------------------------------------------- content hash / diff


def test_content_hash_stable_and_sensitive() -> None:
    a, b = record(themes=["x", "y"]), record(themes=["x", "y"])
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 64 and int(content_hash(a), 16) >= 0
    assert content_hash(a) != content_hash(record(themes=["y", "x"]))
    assert content_hash(a) != content_hash(record(themes=["x", "y"], title="Deux"))
    assert content_hash(a) != content_hash(record(themes=["x", "y"], source="other"))
    # independent of how the record was built (key order, whitespace stripped by the model)
    c = PartnerRecord.model_validate({"title": "  Un ", "themes": ["x", "y"], "url": "https://a.fr/1",
                                      "source_record_id": "1", "source": "avise"})
    assert content_hash(c) == content_hash(a)


def test_diff_first_run_upserts_everything() -> None:
    recs = [record(source_record_id="1"), record(source_record_id="2")]
    ch = diff({}, recs)
    assert [(r.source_record_id, h) for r, h in ch.upserts] == [("1", content_hash(recs[0])), ("2", content_hash(recs[1]))]
    assert ch.deletions == [] and ch.unchanged == 0


def test_diff_upserts_unchanged_and_deletions() -> None:
    r1, r2, r3 = record(source_record_id="1"), record(source_record_id="2"), record(source_record_id="3")
    previous = {"1": content_hash(r1), "2": "stale-hash", "9": "x", "10": "y"}
    ch = diff(previous, [r1, r2, r3])
    assert ch.unchanged == 1
    assert [r.source_record_id for r, _ in ch.upserts] == ["2", "3"]
    assert all(h == content_hash(r) for r, h in ch.upserts)
    assert ch.deletions == ["10", "9"]


def test_diff_empty_listing_deletes_all() -> None:
    ch = diff({"b": "1", "a": "2"}, [])
    assert ch.deletions == ["a", "b"] and ch.upserts == [] and ch.unchanged == 0


def test_diff_replay_changes_nothing() -> None:
    recs = [record(source_record_id=str(i), title=f"T{i}") for i in range(5)]
    first = diff({}, recs)
    again = diff({r.source_record_id: h for r, h in first.upserts}, recs)
    assert again.upserts == [] and again.deletions == [] and again.unchanged == 5


# --------------------------------------------------------------------------- partners config


PARTNER = """\
- slug: {slug}
  name: Partner {slug}
  base_url: https://{slug}.example.org/
  connector: json_export
  options:
    url: {url}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "partners.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def partners_yaml(*entries: tuple[str, str]) -> str:
    return "partners:\n" + "".join(PARTNER.format(slug=s, url=u) for s, u in entries)


def test_minimal_partners_file_defaults(tmp_path: Path) -> None:
    cfg = load_partners(write(tmp_path, partners_yaml(("avise", "https://avise.example.org/projets.json"))))
    [p] = cfg.partners
    assert p.slug == "avise" and p.connector == "json_export"
    assert p.options.records_path == "projets" and p.options.fields == {}
    assert p.delay_s == 1.0 and p.enabled is True and p.guessed is False and p.licence is None
    assert cfg.user_agent.startswith("CarrefourBot/")


def test_bad_url_error_names_partner_and_field(tmp_path: Path) -> None:
    text = partners_yaml(("avise", "https://ok.example.org/x"), ("la-fonda", "ftp://fonda.example.org/x"))
    with pytest.raises(ConfigError) as info:
        load_partners(write(tmp_path, text))
    msg = str(info.value)
    assert "partner la-fonda: options.url: " in msg
    assert "http or https" in msg
    assert "avise" not in msg
    assert str(tmp_path / "partners.yaml") in msg


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("  delay_s: -1\n", "delay_s"),
        ("  delay_s: 601\n", "delay_s"),
        ("  unknown_key: 1\n", "unknown_key"),
        ("  enabled: maybe\n", "enabled"),
    ],
)
def test_field_errors_name_partner_and_field(tmp_path: Path, extra: str, field: str) -> None:
    text = partners_yaml(("cerdd", "https://cerdd.example.org/x")) + extra
    with pytest.raises(ConfigError, match=f"partner cerdd: {field}: "):
        load_partners(write(tmp_path, text))


def test_bad_connector_and_slug(tmp_path: Path) -> None:
    text = partners_yaml(("ok", "https://a.example.org/x")).replace("json_export", "scrapy")
    with pytest.raises(ConfigError, match="partner ok: connector: "):
        load_partners(write(tmp_path, text))
    text = partners_yaml(("Bad_Slug", "https://a.example.org/x"))
    with pytest.raises(ConfigError, match="partner Bad_Slug: slug: "):
        load_partners(write(tmp_path, text))


def test_partner_without_slug_named_by_position(tmp_path: Path) -> None:
    text = partners_yaml(("a", "https://a.example.org/x"), ("b", "https://b.example.org/x")).replace("- slug: b\n", "- \n")
    text = text.replace("- \n  name", "- name")
    with pytest.raises(ConfigError, match="partner #1: slug: Field required"):
        load_partners(write(tmp_path, text))


def test_duplicate_slugs_rejected(tmp_path: Path) -> None:
    text = partners_yaml(("avise", "https://a.example.org/1"), ("cerdd", "https://c.example.org/"),
                         ("avise", "https://a.example.org/2"))
    with pytest.raises(ConfigError, match="duplicate partner slugs: avise$"):
        load_partners(write(tmp_path, text))


@pytest.mark.parametrize(("text", "message"), [("partners: [\n", "cannot read partners file"),
                                               ("", "invalid partners file"),
                                               ("partners: 3\n", "partners: ")])
def test_unreadable_or_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_partners(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read partners file"):
        load_partners(tmp_path / "nope.yaml")


def test_shipped_demo_partners_file_loads() -> None:
    cfg = load_partners()
    assert DEFAULT_PARTNERS_FILE.name == "partners.demo.yaml"
    assert load_partners(DEFAULT_PARTNERS_FILE) == cfg
    slugs = [p.slug for p in cfg.partners]
    assert slugs == ["esspace", "unccas", "avise", "odas-apriles", "fej", "la-fonda", "cerdd", "social-planet"]
    assert sorted(slugs) == sorted(p.name for p in DEMO_SITES.iterdir() if p.is_dir())
    for p in cfg.partners:
        assert p.options.url == f"http://127.0.0.1:8765/{p.slug}/projets.json"
        assert p.options.records_path == "projets"
        assert p.delay_s == 0.2 and p.enabled and p.licence
