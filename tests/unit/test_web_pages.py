"""Pure rules of the web pages: French formats, the pages' security policy (framing only for the
embeddable map, the tile server's images), reports (checks, limits, effects, the reporter's mail),
the API page's parameter types."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.gateway.reports import rules
from services.gateway.web import formats
from services.gateway.web.api_docs import _type, endpoints
from services.gateway.web.middleware import headers_for, policy_for, tile_origin

NNBSP = "\u202f"


# --------------------------------------------------------------------------- French formats

@pytest.mark.parametrize("value, decimals, expected", [
    (0, 0, "0"), (999, 0, "999"), (1000, 0, f"1{NNBSP}000"), (1001, 0, f"1{NNBSP}001"),
    (1234567.891, 1, f"1{NNBSP}234{NNBSP}567,9"), (-1500, 0, f"-1{NNBSP}500"), (-0.01, 1, "0,0"),
    (None, 0, ""), ("abc", 0, "abc"), (True, 0, ""),
])
def test_nombre(value, decimals, expected):
    assert formats.nombre(value, decimals) == expected


@pytest.mark.parametrize("value, expected", [
    (0.0, "0,0\u00a0km"), (0.04, "0,0\u00a0km"), (12.345, "12,3\u00a0km"), (99.94, "99,9\u00a0km"),
    (100, "100\u00a0km"), (100.4, "100\u00a0km"), (1234.5, f"1{NNBSP}234\u00a0km"), (None, ""),
])
def test_km_writes_a_decimal_comma_and_drops_decimals_from_100(value, expected):
    assert formats.km(value) == expected


def test_date_fr():
    assert formats.date_fr("2024-03-01T09:00:00+00:00") == "1er mars 2024"
    assert formats.date_fr(date(2026, 12, 6)) == "6 décembre 2026"
    assert formats.date_fr(datetime(2026, 8, 15, tzinfo=UTC), long=False) == "15/08/2026"
    assert formats.date_fr("pas une date") == "pas une date"
    assert formats.date_fr(None) == ""


# --------------------------------------------------------------------------- security policy

def test_only_the_embed_route_may_be_framed():
    embed = dict(headers_for("/embed"))
    assert b"frame-ancestors *" in embed[b"content-security-policy"] and b"x-frame-options" not in embed
    for path in ("/", "/embedded", "/embed/x", "/integrer", "/projets/a"):
        other = dict(headers_for(path))
        assert b"frame-ancestors 'none'" in other[b"content-security-policy"], path
        assert other[b"x-frame-options"] == b"DENY", path


def test_tile_server_images_allowed_only_when_configured():
    assert b"img-src 'self' data:;" in policy_for("/")
    osm = tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    assert osm == "https://tile.openstreetmap.org"
    assert b"img-src 'self' data: https://tile.openstreetmap.org;" in policy_for("/", osm)
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert tile_origin("javascript:alert(1)") is None and tile_origin("") is None and tile_origin(None) is None


def test_the_api_page_has_its_own_policy_with_no_other_site():
    csp = policy_for("/schema/redoc").decode()
    assert "frame-ancestors 'none'" in csp and "http" not in csp


# --------------------------------------------------------------------------- reports

def test_report_checks_each_field():
    ok = rules.check("a", "closed", "", None, None)
    assert ok.errors == {} and ok.kind == "closed" and ok.email is None
    assert rules.check("a", "autre", "", None, None).errors["kind"]
    assert rules.check("a", None, "", None, None).errors["kind"]
    # a few words are needed for wrong information: at the limit, one under
    assert rules.check("a", "wrong_info", "x" * 10, None, None).errors == {}
    assert "detail" in rules.check("a", "wrong_info", "x" * 9, None, None).errors
    # the detail's length: at, one past, far beyond
    assert rules.check("a", "closed", "x" * rules.DETAIL_MAX, None, None).errors == {}
    assert "detail" in rules.check("a", "closed", "x" * (rules.DETAIL_MAX + 1), None, None).errors
    assert "detail" in rules.check("a", "closed", "x" * 100_000, None, None).errors
    assert rules.check("a", "closed", "", None, "Quelqu.un@Exemple.org").email == "quelqu.un@exemple.org"
    assert "email" in rules.check("a", "closed", "", None, "pas-une-adresse").errors
    assert rules.check("a", "closed", "", None, "", honeypot="http://spam").spam


@pytest.mark.parametrize("value, expected", [
    ("jardin-roubaix", "jardin-roubaix"), ("https://carrefour.example/projets/jardin-roubaix", "jardin-roubaix"),
    ("http://127.0.0.1:8000/projets/jardin-roubaix/?x=1", "jardin-roubaix"), ("/projets/Jardin", None),
    ("https://ailleurs.example/autre", None), ("", None), (None, None),
])
def test_duplicate_named_by_id_or_page_address(value, expected):
    assert rules.project_ref(value) == expected


def test_duplicate_needs_another_project():
    assert "duplicate_of" in rules.check("a", "duplicate", "", "", None).errors
    assert "duplicate_of" in rules.check("a", "duplicate", "", "/projets/a", None).errors
    assert rules.check("a", "duplicate", "", "/projets/b", None).duplicate_of == "b"


def test_rate_limits_at_one_past_and_beyond():
    hour, day = rules.LIMITS
    assert rules.exceeded({("ip", 3600): hour.max - 1, ("ip", 86400): hour.max - 1}) is None
    assert rules.exceeded({("ip", 3600): hour.max, ("ip", 86400): hour.max}) is hour
    assert rules.exceeded({("ip", 3600): 0, ("ip", 86400): day.max}) is day
    assert rules.exceeded({("ip", 3600): 10_000, ("ip", 86400): 10_000}) is hour


def test_decisions_and_their_effects():
    assert rules.effect("closed", "confirmed") == "closed"
    assert rules.effect("duplicate", "confirmed") == "merge"
    assert rules.effect("wrong_info", "confirmed") is None
    assert rules.effect("closed", "rejected") is None and rules.effect("duplicate", "rejected") is None
    with pytest.raises(rules.DecisionError):
        rules.decision("peut-être")
    assert rules.pair(["beta:2", "alpha:9"], ["gamma:1"]) == ("alpha:9", "gamma:1")
    assert rules.pair(["z:1"], ["a:1"]) == ("a:1", "z:1")
    assert rules.pair([], ["a:1"]) is None and rules.pair(["a:1"], ["a:1"]) is None


def test_outcome_mail():
    yes = rules.outcome_mail(title="Jardin", kind="closed", decided="confirmed", page_url="https://x/projets/j",
                             note="Merci")
    assert "pris en compte" in yes and "Merci" in yes and "https://x/projets/j" in yes and "cessé" in yes
    no = rules.outcome_mail(title="Jardin", kind="duplicate", decided="rejected", page_url="u", note=None)
    assert "pas retenu" in no and "modération" not in no


# --------------------------------------------------------------------------- the API page

def test_api_parameter_types():
    assert _type({"oneOf": [{"type": "string"}, {"type": "null"}], "maxLength": 200}) == \
        "string (200 caractères au plus)"
    assert _type({"type": "integer", "minimum": 1, "maximum": 100}) == "integer (≥ 1, ≤ 100)"
    assert _type({"type": "array", "items": {"type": "string"}}) == "liste de string"
    assert _type({"type": "string", "enum": ["csv", "json"]}) == "string (parmi csv, json)"
    assert _type(None) == "valeur"


def test_api_endpoints_grouped_by_area():
    schema = {"paths": {"/api/v1/search": {"get": {"summary": "Search", "operationId": "s",
                                                   "parameters": [{"name": "q", "in": "query",
                                                                   "schema": {"type": "string"}}]}},
                        "/health": {"get": {"summary": "ok"}}}}
    ops = endpoints(schema)
    assert [(o["area"], o["method"], o["path"]) for o in ops] == [("search", "GET", "/api/v1/search"),
                                                                  ("autres", "GET", "/health")]
    assert ops[0]["parameters"][0]["type"] == "string"
