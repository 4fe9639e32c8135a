"""Pure rules of claims: who may claim, review, edit; validation of the holder's fields; tokens;
the overlay of the holder's fields on a canonical project (indexer side)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.events import CanonicalProject, Contact, SourceRef
from services.gateway.claims import domain
from services.indexer.holder_edits import HOLDER_SOURCE, checked_fields, overlay

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_tokens_are_random_and_only_their_hash_is_kept():
    token, digest = domain.new_token()
    other, _ = domain.new_token()
    assert token != other and domain.plausible_token(token)
    assert digest == domain.token_hash(token) and token not in digest and len(digest) == 64
    assert not domain.plausible_token("short") and not domain.plausible_token("a" * 30 + "<script>")


def test_mask_email_hides_the_address():
    assert domain.mask_email("jeanne.dupont@exemple.org") == "j…@exemple.org"
    assert "dupont" not in domain.mask_email("jeanne.dupont@exemple.org")


def test_published_contact_and_sources_from_a_document():
    doc = {"source": ["cerdd", "avise"], "project": {"contact": {"email": "contact@jardin.fr"}}}
    assert domain.published_contact(doc) == "contact@jardin.fr"
    assert domain.project_sources(doc) == ["avise", "cerdd"]
    assert domain.published_contact({"project": {"contact": None}}) is None
    assert domain.project_sources({"project": {"sources": [{"partner": "fej"}]}}) == ["fej"]


def test_may_claim():
    assert domain.may_claim(verified=True, is_holder_role=True, current_holder=None, user_id=1).allowed
    unverified = domain.may_claim(verified=False, is_holder_role=True, current_holder=None, user_id=1)
    assert (unverified.allowed, unverified.status) == (False, 403)
    held = domain.may_claim(verified=True, is_holder_role=True, current_holder=2, user_id=1)
    assert (held.allowed, held.status) == (False, 409) and "déjà géré" in held.reason
    assert domain.may_claim(verified=True, is_holder_role=True, current_holder=1, user_id=1).status == 409


@pytest.mark.parametrize("kw,allowed", [
    (dict(user_id=9, is_operator=True, partner=None, claimant_id=1, sources=["avise"]), True),
    (dict(user_id=9, is_operator=False, partner="avise", claimant_id=1, sources=["avise", "cerdd"]), True),
    (dict(user_id=9, is_operator=False, partner="fej", claimant_id=1, sources=["avise"]), False),
    (dict(user_id=9, is_operator=False, partner=None, claimant_id=1, sources=["avise"]), False),
    (dict(user_id=1, is_operator=True, partner="avise", claimant_id=1, sources=["avise"]), False),  # own claim
])
def test_may_review(kw, allowed):
    verdict = domain.may_review(**kw)
    assert verdict.allowed is allowed and (allowed or verdict.status == 403)


def test_may_edit():
    assert domain.may_edit(user_id=1, verified=True, holder=1).allowed
    assert domain.may_edit(user_id=1, verified=True, holder=2).status == 403
    assert domain.may_edit(user_id=1, verified=True, holder=None).status == 403
    assert domain.may_edit(user_id=1, verified=False, holder=1).status == 403


def test_confirm_verdict():
    assert domain.confirm_verdict(status="pending", expires_at=NOW + timedelta(hours=1), now=NOW).allowed
    assert domain.confirm_verdict(status="pending", expires_at=NOW - timedelta(seconds=1), now=NOW).status == 410
    assert domain.confirm_verdict(status="approved", expires_at=NOW + timedelta(hours=1), now=NOW).status == 409
    assert domain.confirm_verdict(status="pending", expires_at=None, now=NOW).status == 410


def test_validate_edit_accepts_and_normalises():
    r = domain.validate_edit({"summary": "  Un jardin partagé ", "description": "Ligne 1\r\n\r\nLigne 2",
                              "website": "https://jardin.example.org/", "stage": "experimentation",
                              "themes": ["alimentation", "alimentation", "environnement-dechets"],
                              "contact_email": "Porteur@Exemple.ORG"})
    assert r.ok, r.errors
    assert r.fields == {"summary": "Un jardin partagé", "description": "Ligne 1\n\nLigne 2",
                        "website": "https://jardin.example.org/", "stage": "experimentation",
                        "themes": ["alimentation", "environnement-dechets"]}
    assert r.contact_email == "Porteur@exemple.org"
    empty = domain.validate_edit({"summary": "", "themes": [], "stage": ""})
    assert empty.ok and set(empty.fields.values()) == {None}
    assert domain.event_fields({"summary": "x"}) == {"summary": "x", "description": None, "website": None,
                                                     "stage": None, "themes": None}


@pytest.mark.parametrize("data,field", [
    ({"summary": "x" * 501}, "summary"),
    ({"summary": "a\nb"}, "summary"),
    ({"description": "x" * 10_001}, "description"),
    ({"description": "bip\x07"}, "description"),
    ({"website": "javascript:alert(1)"}, "website"),
    ({"website": "ftp://exemple.org"}, "website"),
    ({"website": "https://user:pw@exemple.org"}, "website"),
    ({"website": "exemple.org"}, "website"),
    ({"stage": "fini"}, "stage"),
    ({"themes": ["alimentation", "cuisine"]}, "themes"),
    ({"themes": "alimentation habitat"}, "themes"),
    ({"themes": [1]}, "themes"),
    ({"themes": ["alimentation", "habitat-logement", "emploi-insertion", "sante", "mobilite",
                 "environnement-dechets", "energie", "numerique", "culture"]}, "themes"),
    ({"contact_email": "pas-une-adresse"}, "contact_email"),
    ({"summary": 12}, "summary"),
    ({"title": "Nouveau titre"}, "title"),
])
def test_validate_edit_rejects_with_a_french_message_next_to_the_field(data, field):
    r = domain.validate_edit(data)
    assert not r.ok and field in r.errors and r.errors[field]
    assert r.fields == {} and r.contact_email is None


def test_mails_are_french_and_carry_the_link():
    subject, body = domain.confirmation_mail(project_title="Jardin", claimant="Jeanne", link="https://x/y",
                                             expires=NOW)
    assert "Confirmez" in subject and "https://x/y" in body and "26/11/2026" in body
    subject, body = domain.decision_mail(project_title="Jardin", approved=False, link="", reason="inconnu")
    assert "pas été acceptée" in subject and "Motif : inconnu" in body


# --------------------------------------------------------------------------- indexer overlay


def _project(**kw) -> CanonicalProject:
    base = dict(id="jardin-1", title="Jardin", summary="Résumé partenaire", description="Description partenaire",
                themes=["alimentation"], stage="idee", website="https://partenaire.example.org",
                contact=Contact(email="c@exemple.org", website="https://partenaire.example.org"),
                sources=[SourceRef(partner="avise", record_id="1", url="https://avise.example.org/1", last_seen=NOW)],
                field_sources={"title": "avise:1", "description": "avise:1"}, first_seen=NOW, updated_at=NOW)
    return CanonicalProject(**{**base, **kw})


def test_overlay_lays_holder_fields_and_keeps_the_rest():
    p = _project()
    out = overlay(p, {"summary": "Résumé porteur", "description": None, "website": "https://porteur.example.org",
                      "stage": "developpement", "themes": ["alimentation", "sante"]})
    assert out.summary == "Résumé porteur" and out.description == "Description partenaire"
    assert out.website == out.contact.website == "https://porteur.example.org"
    assert out.contact.email == "c@exemple.org"
    assert (out.stage, out.themes) == ("developpement", ["alimentation", "sante"])
    assert out.field_sources["summary"] == HOLDER_SOURCE and out.field_sources["description"] == "avise:1"
    assert out.field_sources["title"] == "avise:1"
    assert p.summary == "Résumé partenaire", "the canonical project itself is untouched"
    assert overlay(p, {}) is p and overlay(p, None) is p
    assert overlay(p, {"summary": None, "themes": None}) is p


def test_checked_fields_rejects_what_the_gateway_would_not_send():
    assert checked_fields({"summary": "x", "themes": ["sante", "sante"], "stage": None}) == {
        "summary": "x", "themes": ["sante"], "stage": None}
    for bad in ({"title": "x"}, {"themes": ["inconnu"]}, {"stage": "fini"}, {"website": "javascript:x"},
                {"summary": "x" * 501}, {"summary": ["x"]}, {"themes": "sante"}):
        with pytest.raises(ValueError):
            checked_fields(bad)


# --------------------------------------------------------------------------- anything a holder can send

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(st.none(), st.text(max_size=600), st.integers(), st.lists(st.text(max_size=30), max_size=12),
                    st.sampled_from(["sante", "idee", "https://exemple.org", "a@b.fr", "javascript:x"]))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*domain.EDITABLE_FIELDS, "title", "x"]), _values, max_size=7))
def test_validate_edit_answers_fields_or_errors_never_raises(data):
    r = domain.validate_edit(data)
    if r.ok:
        checked = checked_fields(domain.event_fields(r.fields))  # what the gateway publishes, the indexer accepts
        assert set(checked) == set(domain.PUBLISHED_FIELDS)
    else:
        assert r.fields == {} and all(isinstance(m, str) and m for m in r.errors.values())


def test_no_confirmation_address_when_the_sources_disagree_on_the_contact():
    doc = {"project": {"contact": {"email": "contact@jardin.fr"}, "contact_agreed": False}}
    assert domain.published_contact(doc) is None
    assert domain.published_contact({"project": {"contact": {"email": "contact@jardin.fr"},
                                                 "contact_agreed": True}}) == "contact@jardin.fr"
