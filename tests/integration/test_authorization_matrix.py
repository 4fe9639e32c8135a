"""Every route of the gateway, enumerated from the app itself, against every kind of caller.

The route table is read from the Litestar app, so a route added without a decision here fails
the first test: each (method, path) must be declared public (anyone, with the reason), token
(a secret in the URL or body decides), login (any account), a staff role, or an API-key scope.
Then, on the real database:

- anonymous: every non-public route answers 401 (API) or a redirect to /connexion (pages);
- a verified holder with no other role: every staff route answers 403;
- a partner user: operator and moderator routes answer 403;
- a moderator: operator routes answer 403;
- API-key routes without a key answer 401, whoever is logged in (a session is not a key).

Object-level refusals (another holder's post, conversation or project) are in the area tests
(test_claims*, test_matchmaking*, test_contact*).
"""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, csrf, login

SKIPPED_PREFIXES = ("/schema", "/static", "/metrics")

PUBLIC = {
    # reading the catalogue
    ("GET", "/"), ("GET", "/api/v1/search"), ("GET", "/api/v1/suggest"), ("GET", "/api/v1/map"),
    ("GET", "/api/v1/stats"), ("GET", "/api/v1/export"), ("GET", "/api/v1/projects/{project_id:str}"),
    ("GET", "/api/v1/taxonomy"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/projets/{project_id:str}"),
    ("GET", "/statistiques"), ("GET", "/api/v1/partners"), ("GET", "/api/v1/partners/{slug:str}/runs"),
    # matchmaking posts are public reading; reports come from anyone (rate-limited)
    ("GET", "/api/v1/matchmaking/posts"), ("GET", "/api/v1/matchmaking/map"), ("GET", "/api/v1/matchmaking/skills"),
    ("GET", "/api/v1/matchmaking/places"), ("GET", "/api/v1/matchmaking/posts/{post_id:str}"),
    ("GET", "/api/v1/matchmaking/posts/{post_id:str}/suggestions"), ("GET", "/annonces"),
    ("GET", "/annonces/{post_id:str}"), ("POST", "/api/v1/matchmaking/posts/{post_id:str}/report"),
    ("POST", "/annonces/{post_id:str}/signaler"),
    # the Atom feed of any search: for people who follow a theme or a territory without an account
    ("GET", "/alertes/flux.atom"),
    # partners by name, the embeddable map, reporting a problem on a project (rate-limited, CSRF)
    ("GET", "/partenaires"), ("GET", "/partenaires/{slug:str}"), ("GET", "/embed"), ("GET", "/integrer"),
    ("GET", "/projets/{project_id:str}/carte"), ("GET", "/projets/{project_id:str}/signaler"),
    ("POST", "/projets/{project_id:str}/signaler"),
    # becoming a user (and the pages a form redirects to)
    ("GET", "/inscription/envoyee"), ("GET", "/mot-de-passe-oublie/envoye"), ("GET", "/reinitialisation/faite"),
    ("GET", "/connexion"), ("POST", "/connexion"), ("GET", "/inscription"), ("POST", "/inscription"),
    ("GET", "/mot-de-passe-oublie"), ("POST", "/mot-de-passe-oublie"), ("POST", "/deconnexion"),
    ("POST", "/connexion/lien"),
    # a visitor writes to a holder without an account (anti-abuse rules apply)
    ("POST", "/api/v1/contact/messages"), ("GET", "/contact/{kind:str}/{target_id:str}"),
    ("POST", "/contact/{kind:str}/{target_id:str}"),
}
TOKEN = {  # a single-use or secret token decides, not a session
    ("GET", "/verification"), ("GET", "/reinitialisation"), ("POST", "/reinitialisation"),
    ("GET", "/connexion/lien"), ("POST", "/connexion/lien/confirmer"),
    ("POST", "/api/v1/claims/confirm"), ("GET", "/revendications/confirmer"), ("POST", "/revendications/confirmer"),
    ("GET", "/conversation/{token:str}"), ("POST", "/conversation/{token:str}/confirmer"),
    ("POST", "/conversation/{token:str}/repondre"), ("POST", "/conversation/{token:str}/signaler/{message_id:int}"),
    ("POST", "/api/v1/inbound-mail"),
    ("GET", "/alertes/desabonnement/{token:str}"), ("POST", "/alertes/desabonnement/{token:str}"),
}
API_KEY = {  # partner and admin API keys; a session is never enough
    ("POST", "/api/v1/ingest"), ("POST", "/api/v1/ingest/bulk"), ("GET", "/api/v1/partner/me"),
    ("GET", "/api/v1/admin/dedup/overrides"), ("PUT", "/api/v1/admin/dedup/overrides"),
    ("DELETE", "/api/v1/admin/dedup/overrides"), ("GET", "/api/v1/admin/dedup/projects/{project_id:str}"),
}
OPERATOR = {(m, p) for m, p in [
    ("GET", "/api/v1/operator/partners"), ("POST", "/api/v1/operator/partners"),
    ("GET", "/api/v1/operator/partners/{slug:str}"), ("POST", "/api/v1/operator/partners/{slug:str}/users"),
    ("POST", "/api/v1/operator/partners/{slug:str}/users/{user_id:int}/detach"),
    ("POST", "/api/v1/operator/partners/{slug:str}/keys"),
    ("POST", "/api/v1/operator/partners/{slug:str}/keys/{key_id:int}/revoke"),
    ("GET", "/api/v1/operator/moderators"), ("POST", "/api/v1/operator/moderators"),
    ("POST", "/api/v1/operator/moderators/{user_id:int}/revoke"),
    ("GET", "/operateur/partenaires"), ("POST", "/operateur/partenaires"), ("GET", "/operateur/partenaires/{slug:str}"),
    ("POST", "/operateur/partenaires/{slug:str}/utilisateurs"),
    ("POST", "/operateur/partenaires/{slug:str}/utilisateurs/{user_id:int}/retirer"),
    ("POST", "/operateur/partenaires/{slug:str}/cles"), ("POST", "/operateur/partenaires/{slug:str}/cles/{key_id:int}/revoquer"),
    ("GET", "/operateur/moderateurs"), ("POST", "/operateur/moderateurs"),
    ("POST", "/operateur/moderateurs/{user_id:int}/retirer"),
    ("POST", "/api/v1/projects/{project_id:str}/holder/revoke"),
    ("GET", "/operateur/collecte"), ("GET", "/operateur/collecte/{slug:str}"),
    ("GET", "/operateur/apercus"), ("POST", "/operateur/apercus"), ("GET", "/operateur/apercus/{request_id:str}"),
]}
MODERATOR = {
    ("GET", "/moderation"), ("GET", "/moderation/signalements"),
    ("POST", "/moderation/signalements/{report_id:int}/decision"), ("POST", "/api/v1/matchmaking/posts/{post_id:str}/hide"),
    ("POST", "/api/v1/matchmaking/posts/{post_id:str}/unhide"), ("GET", "/api/v1/matchmaking/moderation"),
    ("GET", "/annonces/moderation"), ("POST", "/annonces/{post_id:str}/masquer"),
    ("POST", "/annonces/{post_id:str}/demasquer"), ("GET", "/api/v1/contact/reports"),
    ("POST", "/api/v1/contact/messages/{message_id:int}/hide"), ("POST", "/api/v1/contact/messages/{message_id:int}/unhide"),
    ("GET", "/moderation/messages"), ("POST", "/moderation/messages/{message_id:int}/{op:str}"),
    ("GET", "/moderation/doublons"), ("POST", "/moderation/doublons/decision"),
    ("GET", "/api/v1/moderation/dedup/queue"),
}
PARTNER_OR_OPERATOR = {  # claim review: a partner user of one of the project's sources, or an operator
    ("GET", "/api/v1/claims/pending"), ("GET", "/revendications"),
}
LOGIN = {  # any account; object-level checks (owner, holder, party) come after
    ("GET", "/api/v1/me"), ("POST", "/compte/verification"), ("GET", "/compte"), ("POST", "/compte"),
    ("POST", "/compte/mot-de-passe"), ("GET", "/api/v1/claims"), ("POST", "/api/v1/claims"),
    ("POST", "/api/v1/claims/{claim_id:int}/approve"), ("POST", "/api/v1/claims/{claim_id:int}/reject"),
    ("POST", "/api/v1/claims/{claim_id:int}/withdraw"), ("POST", "/revendications/{claim_id:int}"),
    ("PUT", "/api/v1/projects/{project_id:str}/holder-edits"), ("GET", "/api/v1/projects/{project_id:str}/holder-edits"),
    ("GET", "/projets/{project_id:str}/revendiquer"), ("POST", "/projets/{project_id:str}/revendiquer"),
    ("GET", "/mes-projets"), ("POST", "/mes-projets/demandes/{claim_id:int}/retrait"),
    ("GET", "/projets/{project_id:str}/modifier"), ("POST", "/projets/{project_id:str}/modifier"),
    ("POST", "/api/v1/matchmaking/posts"), ("PUT", "/api/v1/matchmaking/posts/{post_id:str}"),
    ("POST", "/api/v1/matchmaking/posts/{post_id:str}/close"), ("GET", "/annonces/nouvelle"),
    ("POST", "/annonces/nouvelle"), ("GET", "/annonces/{post_id:str}/modifier"), ("POST", "/annonces/{post_id:str}/modifier"),
    ("GET", "/annonces/mes-annonces"), ("POST", "/annonces/{post_id:str}/fermer"),
    ("GET", "/api/v1/contact/conversations"), ("GET", "/api/v1/contact/conversations/{conversation_id:int}"),
    ("POST", "/api/v1/contact/conversations/{conversation_id:int}/messages"),
    ("POST", "/api/v1/contact/conversations/{conversation_id:int}/messages/{message_id:int}/report"),
    ("GET", "/messages"), ("GET", "/messages/{conversation_id:int}"), ("POST", "/messages/{conversation_id:int}/repondre"),
    ("POST", "/messages/{conversation_id:int}/signaler/{message_id:int}"),
    ("GET", "/alertes"), ("GET", "/alertes/nouvelle"), ("POST", "/alertes"), ("POST", "/alertes/{search_id:int}/supprimer"),
}
DECLARED = PUBLIC | TOKEN | API_KEY | OPERATOR | MODERATOR | PARTNER_OR_OPERATOR | LOGIN
STAFF = OPERATOR | MODERATOR | PARTNER_OR_OPERATOR

PARAM_VALUES = {"int": "999999", "str": "inconnu-1", "path": "x"}
BODIES = {"op": "masquer", "kind": "projet"}


def _concrete(path: str) -> str:
    def fill(m: re.Match) -> str:
        name, kind = m.group(1), m.group(2)
        return BODIES.get(name, PARAM_VALUES[kind])
    return re.sub(r"\{(\w+):(\w+)\}", fill, path)


def _routes(app) -> set[tuple[str, str]]:
    out = set()
    for route in app.routes:
        if route.path.startswith(SKIPPED_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method not in ("OPTIONS", "HEAD"):
                    out.add((method, route.path))
    return out


def _is_login_refusal(response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code in (302, 303, 307) and response.headers.get("location", "").startswith("/connexion")


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "authz")
    engine = create_async_engine(url)
    cfg = GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(tmp_path / "mail"))
    app = create_app(cfg)
    await create_user(engine, "porteur@example.org")
    await create_user(engine, "partenaire@example.org", partner="avise")
    await create_user(engine, "moderatrice@example.org", roles=("moderator",))
    yield app, engine
    await engine.dispose()


async def _call(client, method: str, path: str):
    return await client.request(method, _concrete(path), follow_redirects=False,
                                **({"json": {}} if method in ("POST", "PUT", "DELETE") and path.startswith("/api/")
                                   else {"data": {}} if method != "GET" else {}))


async def test_every_route_has_an_access_decision(env):
    app, _ = env
    routes = _routes(app)
    undeclared = sorted(routes - DECLARED)
    assert not undeclared, f"routes with no access decision in this test: {undeclared}"
    gone = sorted(DECLARED - routes)
    assert not gone, f"declared routes that no longer exist: {gone}"


async def test_anonymous_is_refused_everywhere_but_public_routes(env):
    app, _ = env
    async with AsyncTestClient(app=app) as client:
        await csrf(client)  # a valid CSRF token: the refusals below come from authorization, not CSRF
        wrong = []
        for method, path in sorted(_routes(app) - PUBLIC - TOKEN):
            r = await _call(client, method, path)
            if not _is_login_refusal(r):
                wrong.append((method, path, r.status_code))
        assert not wrong, f"anonymous callers not refused (want 401 or a redirect to /connexion): {wrong}"


@pytest.mark.parametrize("email, forbidden", [
    ("porteur@example.org", STAFF),
    ("partenaire@example.org", OPERATOR | MODERATOR),
    ("moderatrice@example.org", OPERATOR | PARTNER_OR_OPERATOR),
], ids=["holder", "partner", "moderator"])
async def test_each_role_is_refused_the_routes_above_it(env, email, forbidden):
    app, _ = env
    async with AsyncTestClient(app=app) as client:
        await login(client, email)
        wrong = []
        for method, path in sorted(forbidden):
            r = await _call(client, method, path)
            if r.status_code != 403:
                wrong.append((method, path, r.status_code))
        for method, path in sorted(API_KEY):
            r = await _call(client, method, path)
            if r.status_code != 401:
                wrong.append((method, path, r.status_code))
        assert not wrong, f"{email}: routes not refused with 403 (or 401 for API-key routes): {wrong}"


async def test_without_csrf_token_a_logged_in_form_post_is_refused(env):
    app, _ = env
    async with AsyncTestClient(app=app) as client:
        await login(client, "moderatrice@example.org")
        del client.headers["x-csrftoken"]
        for method, path in [("POST", "/compte"), ("POST", "/annonces/nouvelle"), ("POST", "/api/v1/matchmaking/posts"),
                             ("POST", "/moderation/messages/{message_id:int}/{op:str}")]:
            r = await _call(client, method, path)
            assert r.status_code == 403, (method, path, r.status_code)
