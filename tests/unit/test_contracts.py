"""Unit tests for the contracts: libs/contracts/events.py, taxonomy.py, search.py."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.contracts.events import (
    SCHEMA_VERSION,
    CanonicalChanged,
    CanonicalProject,
    Contact,
    Holder,
    Operation,
    PartnerRecord,
    ProjectNormalized,
    SourceRecordEvent,
    SourceRef,
    describe_validation_error,
    record_key,
)
from libs.contracts.search import fold
from libs.contracts.taxonomy import FACETS, taxonomy

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rec(**overrides) -> dict:
    base = dict(source="avise", source_record_id="avise-0012", url="https://www.avise.org/p/1", title="Papa Charlie")
    base.update(overrides)
    return base


def errors_of(data: dict, model=PartnerRecord) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return info.value.errors()


def error_fields(data: dict, model=PartnerRecord) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in errors_of(data, model)}


# --------------------------------------------------------------------------- PartnerRecord


def test_minimal_record_is_valid_with_defaults() -> None:
    r = PartnerRecord.model_validate(rec())
    assert (r.source, r.source_record_id, r.url, r.title) == ("avise", "avise-0012", "https://www.avise.org/p/1", "Papa Charlie")
    assert r.themes == [] and r.engineering == []
    assert r.lat is None and r.lon is None and r.holder is None and r.contact is None
    assert r.record_key == "avise:avise-0012" == record_key("avise", "avise-0012")


def test_full_record_is_valid_and_strips_whitespace() -> None:
    r = PartnerRecord.model_validate(rec(
        title="  Papa Charlie  ", description="Ligne 1\nLigne 2\tfin", address="12 rue X", commune="Paris",
        postcode="75012", country="France", lat=48.85, lon=2.37, themes=["Économie circulaire"], stage="En développement",
        engineering=["Ingénierie financière"], holder={"name": "Papa Charlie", "kind": "Entreprise sociale"},
        contact={"email": "contact@papa.fr", "phone": "01 84 60 27 13", "website": "https://papa.fr"},
        published_at="2019-04-16", updated_at="2022-02-08",
    ))
    assert r.title == "Papa Charlie"
    assert r.description == "Ligne 1\nLigne 2\tfin"  # tab and newline are not "control characters" here
    assert r.published_at == date(2019, 4, 16)
    assert r.holder == Holder(name="Papa Charlie", kind="Entreprise sociale")
    assert r.contact.email == "contact@papa.fr"


@pytest.mark.parametrize(
    ("field", "ok", "too_long"),
    [
        ("source_record_id", "x" * 200, "x" * 201),
        ("title", "x" * 300, "x" * 301),
        ("description", "x" * 20_000, "x" * 20_001),
        ("address", "x" * 300, "x" * 301),
        ("commune", "x" * 120, "x" * 121),
        ("country", "x" * 60, "x" * 61),
        ("stage", "x" * 100, "x" * 101),
        ("url", "https://a.fr/" + "x" * (2048 - 13), "https://a.fr/" + "x" * (2049 - 13)),
    ],
)
def test_text_length_limits(field: str, ok: str, too_long: str) -> None:
    assert getattr(PartnerRecord.model_validate(rec(**{field: ok})), field) == ok
    assert error_fields(rec(**{field: too_long})) == {field}


def test_list_length_and_label_limits() -> None:
    assert len(PartnerRecord.model_validate(rec(themes=["t"] * 30)).themes) == 30
    assert error_fields(rec(themes=["t"] * 31)) == {"themes"}
    assert error_fields(rec(engineering=["e"] * 11)) == {"engineering"}
    assert error_fields(rec(themes=["x" * 101])) == {"themes.0"}
    assert error_fields(rec(themes=["ok", "   "])) == {"themes.1"}  # labels are non-empty once stripped


@pytest.mark.parametrize("field", ["title", "source_record_id"])
@pytest.mark.parametrize("value", ["", "   "])
def test_required_text_must_not_be_blank(field: str, value: str) -> None:
    assert error_fields(rec(**{field: value})) == {field}


@pytest.mark.parametrize("field", ["source", "source_record_id", "url", "title"])
def test_required_fields(field: str) -> None:
    data = rec()
    del data[field]
    errs = errors_of(data)
    assert [(e["loc"], e["type"]) for e in errs] == [((field,), "missing")]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "https://example.org/a/b?c=d#e",
        "HTTPS://EXAMPLE.ORG/",
        "https://127.0.0.1:8765/esspace/",
        "https://[::1]/x",
    ],
)
def test_http_urls_accepted(url: str) -> None:
    assert PartnerRecord.model_validate(rec(url=url)).url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert('xss')", "http or https"),
        ("JavaScript:alert(1)", "http or https"),
        ("data:text/html,<script>alert(1)</script>", "http or https"),
        ("ftp://example.org/file", "http or https"),
        ("mailto:a@example.org", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("//example.org/x", "http or https"),
        ("example.org", "http or https"),
        ("https://", "host"),
        ("https:///path", "host"),
        ("https://user:secret@example.org/", "credentials"),
        ("https://user@example.org/", "credentials"),
        ("https://exa mple.org/", "white space"),
        ("https://example.org/\x00", "control characters"),
        ("https://example.org/a\x07b", "control characters"),
        ("https://example.org/\x7f", "control characters"),
        ("http://[::1", "IPv6"),
    ],
)
def test_bad_urls_rejected(url: str, message: str) -> None:
    errs = errors_of(rec(url=url))
    assert [e["loc"] for e in errs] == [("url",)]
    assert message in errs[0]["msg"]


def test_contact_website_is_checked_like_url() -> None:
    assert error_fields(rec(contact={"website": "javascript:alert(1)"})) == {"contact.website"}
    assert error_fields(rec(contact={"website": "https://a:b@example.org"})) == {"contact.website"}


@pytest.mark.parametrize("email", ["a\x00b@example.org", "a@exa\x01mple.org", "nope", "a@b", "<a@b.fr>", "a b@c.fr"])
def test_bad_emails_rejected(email: str) -> None:
    assert error_fields(rec(contact={"email": email})) == {"contact.email"}


@pytest.mark.parametrize(("phone", "ok"), [("01 84 60 27 13", True), ("+33 (0)1.84.60.27.13", True), ("123", False),
                                           ("01 84 <b>", False), ("1" * 41, False)])
def test_phone(phone: str, ok: bool) -> None:
    if ok:
        assert PartnerRecord.model_validate(rec(contact={"phone": phone})).contact.phone == phone
    else:
        assert error_fields(rec(contact={"phone": phone})) == {"contact.phone"}


@pytest.mark.parametrize("field", ["title", "description", "commune", "address", "source_record_id", "stage"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x0b"])
def test_control_characters_rejected(field: str, char: str) -> None:
    errs = errors_of(rec(**{field: f"a{char}b"}))
    assert [e["loc"] for e in errs] == [(field,)]
    assert "control characters" in errs[0]["msg"]


def test_control_characters_rejected_in_nested_and_list_text() -> None:
    assert error_fields(rec(holder={"name": "a\x00"})) == {"holder.name"}
    assert error_fields(rec(themes=["ok", "a\x01b"])) == {"themes.1"}


@pytest.mark.parametrize(("postcode", "ok"), [("75012", True), ("1000", True), ("2A004", True), ("SW1A 1AA", True),
                                              ("7", False), ("75012<", False), ("-7501", False), ("12345678901", False)])
def test_postcode_pattern(postcode: str, ok: bool) -> None:
    if ok:
        assert PartnerRecord.model_validate(rec(postcode=postcode)).postcode == postcode
    else:
        assert error_fields(rec(postcode=postcode)) == {"postcode"}


@pytest.mark.parametrize(("lat", "lon"), [(90, 180), (-90, -180), (0, 0), (48.85, 2.35), (-12.9, 45.1)])
def test_coordinates_in_bounds_accepted(lat: float, lon: float) -> None:
    r = PartnerRecord.model_validate(rec(lat=lat, lon=lon))
    assert (r.lat, r.lon) == (lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon", "bad"),
    [
        (90.0001, 0, "lat"),
        (-91, 0, "lat"),
        (0, 180.5, "lon"),
        (0, -181, "lon"),
        (math.nan, 0, "lat"),
        (0, math.nan, "lon"),
        (math.inf, 0, "lat"),
        (0, -math.inf, "lon"),
        ("nan", 0, "lat"),
        ("abc", 0, "lat"),
    ],
)
def test_bad_coordinates_rejected(lat, lon, bad: str) -> None:
    assert bad in error_fields(rec(lat=lat, lon=lon))


@pytest.mark.parametrize("coords", [dict(lat=48.8), dict(lon=2.3), dict(lat=48.8, lon=None)])
def test_coordinates_come_in_pairs(coords: dict) -> None:
    errs = errors_of(rec(**coords))
    assert len(errs) == 1 and "lat and lon must be given together" in errs[0]["msg"]


@pytest.mark.parametrize("where", ["top", "holder", "contact"])
def test_unknown_fields_rejected(where: str) -> None:
    if where == "top":
        data, loc = rec(titre="x"), "titre"
    elif where == "holder":
        data, loc = rec(holder={"name": "x", "siret": "1"}), "holder.siret"
    else:
        data, loc = rec(contact={"fax": "1"}), "contact.fax"
    errs = errors_of(data)
    assert [(".".join(map(str, e["loc"])), e["type"]) for e in errs] == [(loc, "extra_forbidden")]


@pytest.mark.parametrize("slug", ["a", "avise", "odas-apriles", "la-fonda", "x1", "a" * 64])
def test_source_slug_accepted(slug: str) -> None:
    assert PartnerRecord.model_validate(rec(source=slug)).source == slug


@pytest.mark.parametrize("slug", ["", "Avise", "-avise", "avise-", "la_fonda", "la fonda", "a" * 65, "avisé", "a/b"])
def test_source_slug_rejected(slug: str) -> None:
    assert error_fields(rec(source=slug)) == {"source"}


def test_bad_dates_rejected() -> None:
    assert error_fields(rec(published_at="2019-13-01", updated_at="hier")) == {"published_at", "updated_at"}


def test_not_a_dict_is_a_validation_error() -> None:
    for payload in (None, [], "x", 3):
        with pytest.raises(ValidationError):
            PartnerRecord.model_validate(payload)


# --------------------------------------------------------------------------- events


def test_event_envelope_defaults() -> None:
    e1 = SourceRecordEvent.upsert(PartnerRecord.model_validate(rec()))
    e2 = SourceRecordEvent.upsert(PartnerRecord.model_validate(rec()))
    assert e1.schema_version == 1 == SCHEMA_VERSION
    assert isinstance(e1.event_id, uuid.UUID) and e1.event_id.version == 4
    assert e1.event_id != e2.event_id
    assert re.fullmatch(r"[0-9a-f]{32}", e1.correlation_id)
    assert e1.correlation_id != e2.correlation_id
    assert e1.occurred_at.tzinfo is not None
    assert abs((datetime.now(UTC) - e1.occurred_at).total_seconds()) < 60


def test_event_schema_version_is_pinned() -> None:
    data = SourceRecordEvent.upsert(PartnerRecord.model_validate(rec())).model_dump(mode="json")
    data["schema_version"] = 2
    assert error_fields(data, SourceRecordEvent) == {"schema_version"}


@pytest.mark.parametrize(("cid", "ok"), [("abc", True), ("A-b_c.d:1", True), ("x" * 64, True), ("", False),
                                         ("x" * 65, False), ("a b", False), ("a/b", False), ("é", False)])
def test_correlation_id_pattern(cid: str, ok: bool) -> None:
    data = dict(op="delete", source="avise", source_record_id="1", correlation_id=cid)
    if ok:
        assert SourceRecordEvent.model_validate(data).correlation_id == cid
    else:
        assert error_fields(data, SourceRecordEvent) == {"correlation_id"}


def test_child_keeps_correlation_id_and_gets_new_event_id() -> None:
    parent = SourceRecordEvent(op=Operation.DELETE, source="avise", source_record_id="1", correlation_id="corr-1")
    child = parent.child(ProjectNormalized, op=Operation.DELETE, source="avise", source_record_id="1")
    assert isinstance(child, ProjectNormalized)
    assert child.correlation_id == "corr-1"
    assert child.event_id != parent.event_id
    assert child.key == "avise:1"


def test_event_round_trips_through_json() -> None:
    e = SourceRecordEvent.upsert(PartnerRecord.model_validate(rec(lat=1.5, lon=2.5, themes=["a"])))
    again = SourceRecordEvent.model_validate_json(e.model_dump_json())
    assert again == e


def test_upsert_constructor_copies_keys() -> None:
    r = PartnerRecord.model_validate(rec())
    e = SourceRecordEvent.upsert(r, correlation_id="c1")
    assert (e.op, e.source, e.source_record_id, e.record, e.correlation_id) == (Operation.UPSERT, "avise", "avise-0012", r, "c1")
    assert e.key == "avise:avise-0012"


def test_upsert_without_record_rejected() -> None:
    errs = errors_of(dict(op="upsert", source="avise", source_record_id="1"), SourceRecordEvent)
    assert "an upsert must carry a record" in errs[0]["msg"]


@pytest.mark.parametrize("keys", [dict(source="other"), dict(source_record_id="other-id")])
def test_upsert_record_must_match_event_keys(keys: dict) -> None:
    data = dict(op="upsert", source="avise", source_record_id="avise-0012", record=rec(**keys))
    errs = errors_of(data, SourceRecordEvent)
    assert "differ from the event's" in errs[0]["msg"]


def test_delete_without_record_is_valid_and_with_record_is_not() -> None:
    e = SourceRecordEvent.model_validate(dict(op="delete", source="avise", source_record_id="avise-0012"))
    assert e.op is Operation.DELETE and e.record is None
    errs = errors_of(dict(op="delete", source="avise", source_record_id="avise-0012", record=rec()), SourceRecordEvent)
    assert "a deletion carries no record" in errs[0]["msg"]


def test_unknown_op_and_unknown_event_field_rejected() -> None:
    assert error_fields(dict(op="merge", source="avise", source_record_id="1"), SourceRecordEvent) == {"op"}
    assert error_fields(dict(op="delete", source="avise", source_record_id="1", extra=1), SourceRecordEvent) == {"extra"}


def canonical(**overrides) -> CanonicalProject:
    data = dict(
        id="papa-charlie-12345678", title="Papa Charlie",
        sources=[SourceRef(partner="avise", record_id="avise-0012", url="https://a.fr", last_seen=NOW)],
        first_seen=NOW, updated_at=NOW,
    )
    data.update(overrides)
    return CanonicalProject(**data)


def test_canonical_changed_rule() -> None:
    up = CanonicalChanged(op="upsert", canonical_id="x", version=1, project=canonical())
    assert up.project.title == "Papa Charlie" and up.project.location.country == "FR"
    down = CanonicalChanged(op="delete", canonical_id="x", version=2)
    assert down.project is None
    for bad in (dict(op="upsert"), dict(op="delete", project=canonical())):
        errs = errors_of(dict(canonical_id="x", version=1, **bad), CanonicalChanged)
        assert "an upsert carries the project, a deletion does not" in errs[0]["msg"]


@pytest.mark.parametrize("version", [0, -1])
def test_canonical_version_starts_at_one(version: int) -> None:
    assert error_fields(dict(op="delete", canonical_id="x", version=version), CanonicalChanged) == {"version"}


# --------------------------------------------------------------------------- describe_validation_error


def test_describe_validation_error_names_fields_and_limits() -> None:
    with pytest.raises(ValidationError) as info:
        PartnerRecord.model_validate(rec(url="javascript:x", title="", lat=100, lon=500, source="BAD", themes=[""] * 3))
    text = describe_validation_error(info.value)
    assert text.startswith("source: ")
    assert "url: Value error, URL scheme must be http or https" in text
    assert "title: String should have at least 1 character" in text
    n = len(info.value.errors())
    assert n > 5
    assert text.endswith(f"(+{n - 5} more)")
    assert text.count("; ") == 5
    assert describe_validation_error(info.value, limit=n).count("; ") == n - 1


def test_describe_validation_error_model_level() -> None:
    with pytest.raises(ValidationError) as info:
        PartnerRecord.model_validate(rec(lat=1.0))
    assert describe_validation_error(info.value) == "payload: Value error, lat and lon must be given together"


# --------------------------------------------------------------------------- taxonomy


@pytest.mark.parametrize("facet", FACETS)
def test_taxonomy_slugs_unique_and_well_formed(facet: str) -> None:
    terms = taxonomy().terms(facet)
    slugs = [t.slug for t in terms]
    assert len(slugs) >= 5
    assert len(set(slugs)) == len(slugs)
    assert all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", s) for s in slugs)
    assert taxonomy().slugs(facet) == frozenset(slugs)
    labels = [t.label for t in terms]
    assert len(set(labels)) == len(labels)
    assert all(lbl and lbl[0].isupper() and lbl == lbl.strip() for lbl in labels)


def test_taxonomy_labels_are_french() -> None:
    tax = taxonomy()
    assert tax.version == 1
    assert tax.label("theme", "sante") == "Santé"
    assert tax.label("theme", "environnement-dechets") == "Environnement et déchets"
    assert tax.label("theme", "energie") == "Énergie"
    assert tax.label("stage", "experimentation") == "Expérimentation"
    assert tax.label("stage", "termine") == "Terminé"
    assert tax.label("engineering", "financiere") == "Ingénierie financière"
    assert tax.label("holder_type", "collectivite") == "Collectivité"
    assert [t.slug for t in tax.terms("stage")] == ["idee", "experimentation", "developpement", "essaimage", "termine"]
    # slugs are ASCII, labels carry the accents
    all_terms = [t for f in FACETS for t in tax.terms(f)]
    assert all(t.slug.isascii() for t in all_terms)
    assert sum(not t.label.isascii() for t in all_terms) >= 10


def test_taxonomy_unknown_slug_and_immutability() -> None:
    with pytest.raises(KeyError, match="unknown theme slug"):
        taxonomy().label("theme", "nope")
    assert taxonomy() is taxonomy()
    with pytest.raises(ValidationError):
        taxonomy().terms("theme")[0].slug = "x"


# --------------------------------------------------------------------------- fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Zéro Déchet !", "zero dechet"),
        ("ÉPICERIE SOLIDAIRE", "epicerie solidaire"),
        ("Garage solidaire Mobil'Emploi", "garage solidaire mobil emploi"),
        ("  Tiers-lieu   La Quincaillerie  ", "tiers lieu la quincaillerie"),
        ("Cœur d'Île", "coeur d ile"),
        ("Toit + Moi", "toit moi"),
        ("!!! ... ???", ""),
        ("", ""),
        ("Année 2024", "annee 2024"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@settings(database=None)
@given(st.text(max_size=200))
def test_fold_is_idempotent_and_clean(text: str) -> None:
    once = fold(text)
    assert fold(once) == once
    assert once == once.strip() and "  " not in once
    assert once == once.lower()
    assert all(ch.isalnum() or ch == " " for ch in once)


# --------------------------------------------------------------------------- property tests

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(sorted(PartnerRecord.model_fields)) | st.text(max_size=12)
contact_like = st.fixed_dictionaries({}, optional={"email": st.text(max_size=40), "phone": st.text(max_size=20),
                                                   "website": st.text(max_size=60)})
partnerish = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["avise", "la-fonda"]) | st.text(max_size=10),
        "source_record_id": st.text(max_size=20) | st.integers(),
        "url": st.sampled_from(["https://a.fr/x", "javascript:alert(1)", "http://[::1", "https://u:p@a.fr"])
        | st.text(max_size=40).map(lambda s: "https://" + s),
        "title": st.text(max_size=40),
    },
    optional={
        "lat": st.floats() | st.text(max_size=5),
        "lon": st.floats() | st.text(max_size=5),
        "postcode": st.text(max_size=12),
        "themes": st.lists(st.text(max_size=10), max_size=4) | st.text(max_size=10),
        "holder": json_values,
        "contact": contact_like | json_values,
        "published_at": st.text(max_size=12) | st.dates(),
        "extra": json_values,
    },
)


def _validates_or_validation_error(model, data) -> None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        text = describe_validation_error(exc)
        assert isinstance(text, str) and text.strip()


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, json_values, max_size=8))
def test_partner_record_arbitrary_dicts(data: dict) -> None:
    _validates_or_validation_error(PartnerRecord, data)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(partnerish)
def test_partner_record_near_valid_dicts(data: dict) -> None:
    _validates_or_validation_error(PartnerRecord, data)


@settings(max_examples=100, deadline=None, database=None)
@given(st.fixed_dictionaries({"op": st.sampled_from(["upsert", "delete", "x"]), "source": st.sampled_from(["avise", "B"]),
                              "source_record_id": st.text(max_size=5)},
                             optional={"record": partnerish | json_values, "correlation_id": st.text(max_size=70),
                                       "event_id": st.text(max_size=40) | st.uuids(), "schema_version": json_scalars}))
def test_source_record_event_arbitrary(data: dict) -> None:
    _validates_or_validation_error(SourceRecordEvent, data)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=300))
def test_any_text_as_url_or_title(text: str) -> None:
    _validates_or_validation_error(PartnerRecord, rec(url=text))
    _validates_or_validation_error(PartnerRecord, rec(title=text, description=text))
    _validates_or_validation_error(Contact, {"email": text, "website": text, "phone": text})


def test_location_locality_is_optional_and_backward_compatible() -> None:
    from libs.contracts.events import Location

    old = Location.model_validate_json('{"country": "BE", "precision": "country", "method": "abroad"}')
    assert old.locality is None
    new = Location(country="BE", locality="Brussels", lat=50.85, lon=4.35, precision="commune", method="abroad-city")
    assert Location.model_validate_json(new.model_dump_json()) == new
