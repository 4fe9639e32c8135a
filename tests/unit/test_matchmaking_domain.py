"""Matchmaking rules, pure: validation per kind (French messages by field), skills vocabulary and
free-text fallback, search parameters, suggestions and their explanations, expiry, access rules,
communes of the gazetteer data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.matchmaking.domain import (
    can_edit,
    can_see,
    expires_at,
    new_post_id,
    normalize_skill,
    skill_label,
    validate_post,
)
from services.gateway.matchmaking.matching import (
    distance_km,
    parse_post_query,
    rank_suggestions,
    score,
)
from services.gateway.matchmaking.places import gazetteer
from services.gateway.search.rules import QueryError

TODAY = date(2026, 11, 26)
CALL = {"kind": "call_for_expertise", "title": "Besoin d'un comptable bénévole",
        "description": "Notre épicerie solidaire cherche de l'aide pour tenir ses comptes.",
        "skills": "compta, Soudure TIG", "project_id": "epicerie-solidaire-lille", "deadline": "2026-12-31"}
JOB = {"kind": "job_offer", "title": "Animateur ou animatrice de jardin", "project_id": "jardin-des-lilas",
       "description": "Animer les ateliers du jardin partagé avec les habitants du quartier.",
       "contract_type": "cdd", "hours": "24 h par semaine", "start_date": "2027-01-05",
       "pay_min": "1500", "pay_max": "1800", "pay_period": "month"}
SEARCH = {"kind": "job_search", "title": "Maraîcher cherche emploi", "skills": ["maraîchage", "jardinier"],
          "description": "Dix ans de maraîchage biologique, je cherche un poste en insertion.",
          "commune": "Roubaix", "availability": "dès janvier"}


def test_skills_vocabulary_and_free_text_fallback():
    assert normalize_skill("Compta") == "comptabilite"
    assert normalize_skill("  COMPTABILITÉ ") == "comptabilite"
    assert normalize_skill("jardinier") == "jardinage"
    assert normalize_skill("Soudure TIG !") == "soudure-tig"
    assert normalize_skill("   ") is None and normalize_skill("!!") is None
    assert skill_label("comptabilite") == "Comptabilité" and skill_label("soudure-tig") == "soudure tig"


def test_valid_posts_of_each_kind():
    draft, errors = validate_post(CALL, TODAY)
    assert errors == {} and draft.skills == ["comptabilite", "soudure-tig"] and draft.deadline == date(2026, 12, 31)
    draft, errors = validate_post(JOB, TODAY)
    assert errors == {} and (draft.pay_min, draft.pay_max, draft.contract_type) == (1500, 1800, "cdd")
    draft, errors = validate_post(SEARCH, TODAY)
    assert errors == {} and draft.skills == ["maraichage", "jardinage"] and draft.project_id is None
    draft, errors = validate_post({**SEARCH, "kind": "expertise_offer", "themes": ["alimentation"]}, TODAY)
    assert errors == {} and draft.themes == ["alimentation"]


@pytest.mark.parametrize("data, field", [
    ({**CALL, "project_id": None}, "project_id"),            # a call is linked to a project
    ({**CALL, "project_id": "Pas Un Id"}, "project_id"),
    ({**CALL, "skills": ""}, "skills"),
    ({**CALL, "deadline": "2026-01-01"}, "deadline"),        # in the past
    ({**CALL, "deadline": "2029-01-01"}, "deadline"),        # more than a year away
    ({**CALL, "deadline": "31/12/2026"}, "deadline"),
    ({**CALL, "title": "abc"}, "title"),
    ({**CALL, "title": "x" * 121}, "title"),
    ({**CALL, "title": "Bonjour\x00"}, "title"),
    ({**CALL, "description": "court"}, "description"),
    ({**CALL, "description": "x" * 5001}, "description"),
    ({**CALL, "kind": "mariage"}, "kind"),
    ({**CALL, "remote": "lune"}, "remote"),
    ({**CALL, "themes": ["pas-un-theme"]}, "themes"),
    ({**CALL, "skills": [f"s{i}" for i in range(13)]}, "skills"),
    ({**CALL, "skills": ["x" * 61]}, "skills"),
    ({**CALL, "pay_min": "1000", "pay_period": "month"}, "pay_min"),   # pay only on a job offer
    ({**JOB, "contract_type": None}, "contract_type"),
    ({**JOB, "contract_type": "esclavage"}, "contract_type"),
    ({**JOB, "hours": ""}, "hours"),
    ({**JOB, "start_date": None}, "start_date"),
    ({**JOB, "pay_min": "2000", "pay_max": "1000"}, "pay_max"),
    ({**JOB, "pay_min": "-5"}, "pay_min"),
    ({**JOB, "pay_min": "beaucoup"}, "pay_min"),
    ({**JOB, "pay_period": None}, "pay_period"),
    ({**SEARCH, "commune": ""}, "commune"),
    ({**SEARCH, "availability": None}, "availability"),
    ({**SEARCH, "skills": []}, "skills"),
    ({**SEARCH, "project_id": "jardin-des-lilas"}, "project_id"),  # a person's post has no project
    ({**SEARCH, "title": 12}, "title"),
])
def test_invalid_posts_name_the_field(data, field):
    draft, errors = validate_post(data, TODAY)
    assert draft is None and field in errors, errors
    assert all(isinstance(m, str) and m for m in errors.values())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["kind", "title", "description", "skills", "themes", "project_id", "commune",
                                        "remote", "deadline", "contract_type", "hours", "pay_min", "pay_max",
                                        "pay_period", "start_date", "availability", "other"]),
                       st.one_of(st.none(), st.text(max_size=80), st.integers(), st.booleans(),
                                 st.lists(st.text(max_size=20), max_size=5))))
def test_validation_never_raises(data):
    draft, errors = validate_post(data, TODAY)
    assert (draft is None) == bool(errors) or draft is None


def test_post_ids_are_slugs_with_a_random_tail():
    assert new_post_id("Besoin d'un Comptable !", "a1b2c3") == "besoin-d-un-comptable-a1b2c3"
    assert new_post_id("!!!", "a1b2c3") == "annonce-a1b2c3"
    assert new_post_id("x") != new_post_id("x")


def test_expiry_at_deadline_end_of_day_paris_or_after_lifetime():
    created = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert expires_at("call_for_expertise", created, date(2026, 12, 31)) == datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert (expires_at("job_offer", created, None) - created).days == 60
    assert (expires_at("expertise_offer", created, None) - created).days == 180


def test_access_rules():
    post = {"author_id": 7, "hidden": False}
    assert can_see(post, None, False) and can_edit(post, 7) and not can_edit(post, 8) and not can_edit(post, None)
    hidden = {"author_id": 7, "hidden": True}
    assert not can_see(hidden, None, False) and not can_see(hidden, 8, False)
    assert can_see(hidden, 7, False) and can_see(hidden, 8, True)


def test_search_parameters():
    q = parse_post_query(q="Comptabilité", filters={"kind": ["job_offer"], "skill": ["comptabilite"],
                                                    "theme": ["alimentation"], "departement": ["59"]})
    assert q.tokens == ("comptabilite",) and q.filters["kind"] == ("job_offer",) and q.sort == "relevance"
    assert parse_post_query().sort == "newest"
    assert parse_post_query(lat="50.6", lon="3.06", radius_km="20").sort == "nearest"
    for bad in (dict(filters={"kind": ["nope"]}), dict(filters={"skill": ["Pas Un Slug"]}),
                dict(filters={"theme": ["nope"]}), dict(filters={"departement": ["999x"]}),
                dict(filters={"stage": ["idee"]}), dict(sort="nearest"), dict(sort="random"),
                dict(per_page=500), dict(page=0), dict(page="x"), dict(project="Pas Un Id"),
                dict(lat="200", lon="3"), dict(q="x" * 201), dict(bbox="1,2,3")):
        with pytest.raises(QueryError):
            parse_post_query(**bad)


def test_suggestions_are_scored_and_explained_in_french():
    call = {"id": "c", "kind": "call_for_expertise", "author_id": 1, "skills": ["comptabilite", "droit"],
            "themes": ["alimentation"], "lat": 50.63, "lon": 3.06, "remote": "on_site", "project_id": "p0"}
    near = {"id": "n", "kind": "expertise_offer", "author_id": 2, "title": "Comptable", "skills": ["comptabilite"],
            "themes": ["alimentation"], "lat": 50.69, "lon": 3.18, "remote": "on_site"}  # Roubaix, ~10 km
    far = {**near, "id": "f", "lat": 43.6, "lon": 1.44}                                   # Toulouse
    unrelated = {**near, "id": "u", "skills": ["couture"], "themes": ["culture"]}
    mine = {**near, "id": "m", "author_id": 1}
    same_kind = {**near, "id": "s", "kind": "call_for_expertise"}
    s_near, reasons = score(call, near, {"alimentation": "Alimentation"})
    assert reasons[0] == "compétence commune : Comptabilité"
    assert reasons[1] == "même thématique : Alimentation"
    assert reasons[2].startswith("à ") and reasons[2].endswith(" km")
    assert 5 <= distance_km(50.63, 3.06, 50.69, 3.18) <= 15
    assert score(call, unrelated) == (0.0, [])
    s_far, _ = score(call, far)
    assert s_near > s_far
    project = {"id": "p1", "title": "Épicerie voisine", "theme": ["alimentation"], "lat": 50.64, "lon": 3.07}
    own_project = {**project, "id": "p0"}
    got = rank_suggestions(call, [far, unrelated, near, mine, same_kind], [own_project, project],
                           {"alimentation": "Alimentation"})
    assert [s.id for s in got["posts"]] == ["n", "f"]
    assert [s.id for s in got["projects"]] == ["p1"]
    assert got["projects"][0].explanation.startswith("même thématique : Alimentation, à 1 km")
    remote = score({**call, "remote": "remote"}, far)[1]
    assert "à distance possible" in remote


def test_gazetteer_communes():
    g = gazetteer()
    lille, _ = g.resolve("Lille")
    assert (lille.code, lille.departement, lille.region) == ("59350", "59", "32")
    assert g.resolve("59000")[0].code == "59350" and g.resolve("59350")[0].code == "59350"
    assert g.resolve("Roubaix (59100)")[0].code == "59512"
    place, choices = g.resolve("Saint-Denis")
    assert place is None and len(choices) > 2 and choices[0].population >= choices[1].population
    assert g.resolve("Saint-Denis (93200)")[0].code == "93066"
    assert g.resolve("Nulle-part-sur-Mer") == (None, [])
    assert [p.code for p in g.complete("roub")][:1] == ["59512"]
    assert g.complete("") == [] and g.complete("a") == []
