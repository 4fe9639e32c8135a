"""Matchmaking posts through the gateway, in process, on the real database and broker: publishing
(who may), search (French full-text, typos, facets, distance), GeoJSON, suggestions, edit, close,
moderation (reports, hide/unhide), expiry, audit rows, MatchmakingChanged events read back by a
real consumer on matchmaking.v1 — and every forbidden case (401 anonymous, 403 not allowed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import MatchmakingChanged
from libs.contracts.topics import MATCHMAKING
from services.gateway.app import create_app
from services.gateway.matchmaking import service
from services.gateway.settings import GatewaySettings
from tests.helpers_accounts import create_user, csrf, login, logout, make_holder
from tests.integration.test_search_conformance import indexed_database

TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
CALL = {"kind": "call_for_expertise", "title": "Cherche comptable bénévole pour le jardin",
        "description": "Le jardin partagé cherche quelqu'un pour tenir les comptes de l'association.",
        "skills": ["comptabilité", "recherche de financements"], "project_id": "jardin-roubaix",
        "deadline": TOMORROW}
JOB = {"kind": "job_offer", "title": "Animateur ou animatrice de jardin partagé", "project_id": "jardin-roubaix",
       "description": "Animer les ateliers de jardinage avec les habitants du quartier de l'Épeule.",
       "skills": ["jardinage", "animation"], "contract_type": "cdd", "hours": "24 h par semaine",
       "start_date": TOMORROW, "pay_min": 1500, "pay_max": 1800, "pay_period": "month", "remote": "on_site"}
OFFER = {"kind": "expertise_offer", "title": "Comptable retraitée, disponible pour des associations",
         "description": "Trente ans d'expertise comptable ; j'aide volontiers des projets solidaires.",
         "skills": ["Comptabilité", "gestion associative"], "themes": ["alimentation"], "commune": "Lille",
         "availability": "deux demi-journées par semaine", "remote": "hybrid"}


@pytest.fixture
async def consumer(stack):
    """A consumer of the matchmaking topic, from its end, for one test."""
    c = AIOKafkaConsumer(MATCHMAKING, bootstrap_servers=stack.bootstrap, auto_offset_reset="latest", group_id=None)
    await c.start()
    await c.seek_to_end()
    yield c
    await c.stop()


async def _events(consumer: AIOKafkaConsumer, post_ids: set[str], want: int, timeout: float = 15.0
                  ) -> list[MatchmakingChanged]:
    got: list[MatchmakingChanged] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for r in records:
                event = MatchmakingChanged.model_validate(orjson.loads(r.value))
                if event.post_id in post_ids:
                    assert r.key.decode() == event.post_id
                    got.append(event)
    return got


@pytest.fixture(scope="module")
def env(stack):
    """A database with the conformance projects indexed, five accounts, and a holder of jardin-roubaix."""
    async def setup():
        url, engine = await indexed_database(stack, "mm")
        users = {
            "holder": await create_user(engine, "porteur@example.org"),
            "other": await create_user(engine, "autre@example.org"),
            "person": await create_user(engine, "comptable@example.org"),
            "unverified": await create_user(engine, "pasverifie@example.org", verified=False),
            "moderator": await create_user(engine, "modo@example.org", roles=("moderator",)),
        }
        await make_holder(engine, "jardin-roubaix", users["holder"])
        await engine.dispose()
        return url, users

    return asyncio.run(setup())


def _app(stack, url):
    return create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap))


async def test_publish_search_suggest_edit_close_with_every_forbidden_case(stack, env, consumer):
    url, users = env
    async with AsyncTestClient(app=_app(stack, url)) as client:
        api = "/api/v1/matchmaking/posts"
        await csrf(client)
        # anonymous: 401
        assert (await client.post(api, json=CALL)).status_code == 401
        # not verified: 403
        await login(client, "pasverifie@example.org")
        assert (await client.post(api, json=OFFER)).status_code == 403
        await logout(client)
        # not the holder of the project: 403 (for both project kinds)
        await login(client, "autre@example.org")
        assert (await client.post(api, json=CALL)).status_code == 403
        assert (await client.post(api, json=JOB)).status_code == 403
        # a person's post with a project, a project that does not exist, bad fields: 400 naming the field
        bad = await client.post(api, json={**OFFER, "project_id": "jardin-roubaix"})
        assert bad.status_code == 400 and "project_id" in bad.json()["errors"]
        bad = await client.post(api, json={**CALL, "project_id": "nulle-part"})
        assert bad.status_code in (400, 403)
        bad = await client.post(api, json={**OFFER, "commune": "Saint-Denis"})
        assert bad.status_code == 400 and "Saint-Denis (93200)" in bad.json()["errors"]["commune"]
        bad = await client.post(api, json={**CALL, "title": "x", "kind": "mariage"})
        assert bad.status_code == 400 and {"title", "kind"} <= set(bad.json()["errors"])
        assert (await client.post(api, content=b"[1, 2", headers={"content-type": "application/json"})
                ).status_code == 400
        await logout(client)

        # the holder publishes a call for expertise and a job offer linked to the project
        await login(client, "porteur@example.org")
        r = await client.post(api, json=CALL)
        assert r.status_code == 201, r.text
        call = r.json()
        assert call["project_id"] == "jardin-roubaix" and call["commune"] == "59512"
        assert call["departement"] == "59" and call["themes"] == ["alimentation", "solidarite-lien-social"]
        assert call["skills"] == ["comptabilite", "recherche-financements"] and "author_id" not in call
        r = await client.post(api, json=JOB)
        assert r.status_code == 201, r.text
        job = r.json()
        await logout(client)
        # a person offers expertise, from Lille
        await login(client, "comptable@example.org")
        r = await client.post(api, json=OFFER)
        assert r.status_code == 201, r.text
        offer = r.json()
        assert (offer["commune"], offer["commune_name"], offer["region"]) == ("59350", "Lille", "32")
        assert offer["skills"] == ["comptabilite", "gestion-associative"]
        await logout(client)
        ids = {call["id"], job["id"], offer["id"]}

        # search: French text (stemming), typo, facets (disjunctive), distance, project
        def found(r):
            assert r.status_code == 200, r.text
            return {h["id"] for h in r.json()["hits"]}

        assert found(await client.get(api)) == ids
        assert found(await client.get(api, params={"q": "comptables"})) == {call["id"], offer["id"]}
        assert found(await client.get(api, params={"q": "comptabilte"})) >= {call["id"], offer["id"]}  # typo
        assert found(await client.get(api, params={"q": "animatrice jard"})) == {job["id"]}     # prefix
        assert found(await client.get(api, params={"skill": "comptabilite"})) == {call["id"], offer["id"]}
        assert found(await client.get(api, params={"contract_type": "cdd"})) == {job["id"]}
        assert found(await client.get(api, params={"remote": "hybrid"})) == {offer["id"]}
        assert found(await client.get(api, params={"theme": "solidarite-lien-social"})) == {call["id"], job["id"]}
        assert found(await client.get(api, params={"departement": "59", "kind": "expertise_offer"})) == {offer["id"]}
        assert found(await client.get(api, params={"project": "jardin-roubaix"})) == {call["id"], job["id"]}
        near = await client.get(api, params={"lat": 50.6292, "lon": 3.0573, "radius_km": 5})
        assert found(near) == {offer["id"]} and near.json()["hits"][0]["distance_km"] < 5
        body = (await client.get(api, params={"kind": "job_offer"})).json()
        kinds = {f["value"]: f["count"] for f in body["facets"]["kind"]}
        assert kinds == {"call_for_expertise": 1, "job_offer": 1, "expertise_offer": 1}  # disjunctive
        assert body["labels"]["kind"]["job_offer"] == "Offre d'emploi"
        for bad in ({"kind": "nope"}, {"stage": "idee"}, {"sort": "nearest"}, {"per_page": 1000},
                    {"lat": "abc", "lon": 3}, {"skill": "Pas Un Slug"}, {"q": "x" * 300}):
            assert (await client.get(api, params=bad)).status_code == 400, bad

        # GeoJSON for the map
        geo = (await client.get("/api/v1/matchmaking/map", params={"bbox": "2.5,50.4,3.5,50.9"})).json()
        assert {f["properties"]["id"] for f in geo["features"]} == ids
        assert all(f["properties"]["url"].startswith("/annonces/") for f in geo["features"])
        places = (await client.get("/api/v1/matchmaking/places", params={"q": "roub"})).json()["places"]
        assert places[0]["code"] == "59512"

        # suggestions, explained
        sug = (await client.get(f"{api}/{call['id']}/suggestions")).json()
        assert [s["id"] for s in sug["posts"]] == [offer["id"]]
        why = sug["posts"][0]["explanation"]
        assert why.startswith("compétence commune : Comptabilité") and " km" in why
        assert all(s["id"] != "jardin-roubaix" for s in sug["projects"])  # not its own project
        sug = (await client.get(f"{api}/{offer['id']}/suggestions")).json()
        assert [s["id"] for s in sug["posts"]] == [call["id"], job["id"]]  # skills first, then themes only
        assert sug["projects"][0]["id"] == "jardin-roubaix"
        assert sug["projects"][0]["explanation"].startswith("même thématique : Alimentation, à 1")
        assert (await client.get(f"{api}/nulle-part-000000/suggestions")).status_code == 404

        # edit: anonymous 401, someone else 403, the author 200
        edit = {**CALL, "title": "Cherche comptable bénévole (urgent)"}
        assert (await client.put(f"{api}/{call['id']}", json=edit)).status_code == 401
        await login(client, "autre@example.org")
        assert (await client.put(f"{api}/{call['id']}", json=edit)).status_code == 403
        assert (await client.post(f"{api}/{call['id']}/close")).status_code == 403
        await logout(client)
        await login(client, "porteur@example.org")
        r = await client.put(f"{api}/{call['id']}", json=edit)
        assert r.status_code == 200 and r.json()["title"].endswith("(urgent)")
        bad = await client.put(f"{api}/{call['id']}", json={**edit, "deadline": "2001-01-01"})
        assert bad.status_code == 400 and "deadline" in bad.json()["errors"]
        # close: the author; closed posts leave the search; closing again changes nothing
        assert (await client.post(f"{api}/{job['id']}/close")).json()["status"] == "closed"
        assert (await client.post(f"{api}/{job['id']}/close")).status_code == 200
        assert job["id"] not in found(await client.get(api))
        assert (await client.put(f"{api}/{job['id']}", json=JOB)).status_code == 409
        await logout(client)
        assert (await client.post(f"{api}/{call['id']}/close")).status_code == 401

    events = await _events(consumer, ids, want=5)
    seen = [(e.post_id, e.kind) for e in events]
    assert (call["id"], "created") in seen and (job["id"], "created") in seen and (offer["id"], "created") in seen
    assert (call["id"], "updated") in seen and seen.count((job["id"], "closed")) == 1
    created = next(e for e in events if e.post_id == call["id"] and e.kind == "created")
    assert created.post_kind == "call_for_expertise" and created.project_id == "jardin-roubaix"
    assert created.departement == "59" and created.actor_role == "holder"
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        actions = {r.action for r in await conn.execute(text(
            "SELECT action FROM audit_log WHERE target = ANY(:t)"), {"t": [f"post:{i}" for i in ids]})}
    await engine.dispose()
    assert {"matchmaking.create", "matchmaking.update", "matchmaking.close"} <= actions


async def test_moderation_reports_hide_unhide_and_rate_limit(stack, env, consumer):
    url, users = env
    async with AsyncTestClient(app=_app(stack, url)) as client:
        api = "/api/v1/matchmaking/posts"
        await login(client, "comptable@example.org")
        post = (await client.post(api, json={**OFFER, "title": "Offre à modérer, expertise comptable"})).json()
        pid = post["id"]
        await logout(client)
        await csrf(client)
        # anyone reports (anonymous too); a bad reason is refused; the same reporter counts once
        assert (await client.post(f"{api}/{pid}/report", json={"reason": "haine"})).status_code == 400
        r = await client.post(f"{api}/{pid}/report", json={"reason": "spam", "details": "publicité"})
        assert r.status_code == 202 and r.json()["reports"] == 1
        assert (await client.post(f"{api}/{pid}/report", json={"reason": "spam"})).json()["reports"] == 1
        assert (await client.post(f"{api}/nulle-part-000000/report", json={"reason": "spam"})).status_code == 404
        # hide / unhide / moderation queue: anonymous 401, a holder 403
        for path in (f"{api}/{pid}/hide", f"{api}/{pid}/unhide"):
            assert (await client.post(path)).status_code == 401
        assert (await client.get("/api/v1/matchmaking/moderation")).status_code == 401
        await login(client, "autre@example.org")
        for path in (f"{api}/{pid}/hide", f"{api}/{pid}/unhide"):
            assert (await client.post(path)).status_code == 403
        assert (await client.get("/api/v1/matchmaking/moderation")).status_code == 403
        await logout(client)
        await login(client, "modo@example.org")
        queue = (await client.get("/api/v1/matchmaking/moderation")).json()["posts"]
        assert [(p["id"], p["open_reports"]) for p in queue] == [(pid, 1)]
        assert queue[0]["reports"][0]["reason"] == "spam"
        r = await client.post(f"{api}/{pid}/hide", json={"reason": "publicité déguisée"})
        assert r.status_code == 200 and r.json()["hidden"] is True
        await logout(client)
        # hidden: gone for visitors (search, page, API), still seen by its author
        assert pid not in {h["id"] for h in (await client.get(api)).json()["hits"]}
        assert (await client.get(f"{api}/{pid}")).status_code == 404
        assert (await client.get(f"/annonces/{pid}")).status_code == 404
        await login(client, "comptable@example.org")
        assert (await client.get(f"{api}/{pid}")).status_code == 200
        await logout(client)
        await login(client, "modo@example.org")
        assert (await client.post(f"{api}/{pid}/unhide")).json()["hidden"] is False
        assert (await client.get("/api/v1/matchmaking/moderation")).json()["posts"] == []
        await logout(client)
        assert pid in {h["id"] for h in (await client.get(api)).json()["hits"]}
        # rate limit: 5 reports an hour per reporter (here: the test client's address)
        await csrf(client)
        others = []
        await login(client, "comptable@example.org")
        for i in range(5):
            others.append((await client.post(api, json={**OFFER, "title": f"Offre numéro {i} pour le test"})
                           ).json()["id"])
        await logout(client)
        await csrf(client)
        codes = [(await client.post(f"{api}/{o}/report", json={"reason": "other"})).status_code for o in others]
        assert codes[:4] == [202] * 4 and codes[4] == 429  # one report already sent above in this hour
    events = await _events(consumer, {pid}, want=4)
    kinds = [e.kind for e in events]
    assert kinds == ["created", "reported", "hidden", "unhidden"], kinds
    assert events[1].actor_role == "visitor" and events[2].actor_role == "moderator"


async def test_expiry_closes_at_deadline_and_announces(stack, env, consumer):
    url, users = env
    async with AsyncTestClient(app=_app(stack, url)) as client:
        await login(client, "porteur@example.org")
        r = await client.post("/api/v1/matchmaking/posts", json={**CALL, "title": "Appel qui va expirer"})
        pid = r.json()["id"]
        engine, broker = create_async_engine(url), KafkaBroker(stack.bootstrap, acks="all")
        await broker.connect()
        try:
            later = datetime.now(UTC) + timedelta(days=4)
            assert pid not in await service.expire(engine, broker, datetime.now(UTC))
            assert pid in await service.expire(engine, broker, later)
            assert pid not in await service.expire(engine, broker, later)  # only once
        finally:
            await broker.stop()
            await engine.dispose()
        got = (await client.get(f"/api/v1/matchmaking/posts/{pid}")).json()
        assert (got["status"], got["closed_reason"]) == ("closed", "deadline")
    events = await _events(consumer, {pid}, want=2)
    assert [(e.kind, e.actor_role) for e in events] == [("created", "holder"), ("closed", "system")]


async def test_pages_forms_and_their_forbidden_cases(stack, env):
    url, users = env
    async with AsyncTestClient(app=_app(stack, url)) as client:
        # anonymous: pages that need a login redirect to /connexion?next=...
        r = await client.get("/annonces/nouvelle", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/connexion?next=%2Fannonces%2Fnouvelle"
        for path in ("/annonces/moderation", "/annonces/mes-annonces"):
            r = await client.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion?next=")
        # without the CSRF token a form is refused
        r = await client.post("/annonces/nouvelle", data={"kind": "job_search"}, follow_redirects=False)
        assert r.status_code == 403

        await login(client, "porteur@example.org")
        page = await client.get("/annonces/nouvelle?type=call_for_expertise")
        assert page.status_code == 200 and 'value="jardin-roubaix"' in page.text and "Publier une annonce" in page.text
        # errors are shown next to their fields, in French, and the values are kept
        r = await client.post("/annonces/nouvelle", data={"kind": "job_offer", "title": "Poste de coordinateur",
                                                          "project_id": "jardin-roubaix", "description": "trop court"})
        assert r.status_code == 400
        assert 'id="err-description"' in r.text and "Au moins 20 caractères." in r.text
        assert 'id="err-contract_type"' in r.text and 'aria-invalid="true"' in r.text
        assert 'value="Poste de coordinateur"' in r.text
        form = {"kind": "call_for_expertise", "title": "Cherche graphiste pour une affiche",
                "project_id": "jardin-roubaix", "skills": ["graphisme", "Sérigraphie"],
                "description": "Une affiche pour la fête du jardin partagé, en mai prochain.", "remote": "remote"}
        r = await client.post("/annonces/nouvelle", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("?publiee=1")
        post_url = r.headers["location"].split("?")[0]
        pid = post_url.rsplit("/", 1)[1]
        page = await client.get(post_url + "?publiee=1")
        assert page.status_code == 200 and "Votre annonce est publiée." in page.text
        assert "Sérigraphie" not in page.text and "serigraphie" in page.text and "Clore l'annonce" in page.text
        edit = await client.get(f"/annonces/{pid}/modifier")
        assert edit.status_code == 200 and 'value="graphisme" checked' in edit.text
        r = await client.post(f"/annonces/{pid}/modifier", data={**form, "title": "Cherche graphiste (affiche)"},
                              follow_redirects=False)
        assert r.status_code == 303
        # the project page lists the project's open posts
        project = await client.get("/projets/jardin-roubaix")
        assert "Annonces du projet" in project.text and "Cherche graphiste (affiche)" in project.text
        mine = await client.get("/annonces/mes-annonces")
        assert "Cherche graphiste (affiche)" in mine.text
        # not a moderator: 403 pages
        assert (await client.get("/annonces/moderation")).status_code == 403
        assert (await client.post(f"/annonces/{pid}/masquer", data={"reason": "x"})).status_code == 403
        await logout(client)

        # someone else: cannot edit or close
        await login(client, "autre@example.org")
        assert (await client.get(f"/annonces/{pid}/modifier")).status_code == 403
        assert (await client.post(f"/annonces/{pid}/modifier", data=form)).status_code == 403
        assert (await client.post(f"/annonces/{pid}/fermer")).status_code == 403
        page = await client.get(f"/annonces/{pid}")
        assert "Contacter l'auteur" in page.text and f"/contact/annonce/{pid}" in page.text
        assert "Clore l'annonce" not in page.text and "Modération" not in page.text
        # reporting through the form (anonymous reports are tested above, and rate-limited per address)
        r = await client.post(f"/annonces/{pid}/signaler", data={"reason": "spam"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("?signalee=1")
        await logout(client)

        # a visitor browses, filters and reports
        await csrf(client)
        listing = await client.get("/annonces", params={"skill": "graphisme"})
        assert listing.status_code == 200 and "Cherche graphiste (affiche)" in listing.text
        assert "1 annonce" in listing.text and "Retirer le filtre Compétence : Graphisme" in listing.text
        assert (await client.get("/annonces", params={"kind": "pirate"})).status_code == 400
        near = await client.get("/annonces", params={"pres": "Lille (59000)", "rayon": "25", "skill": "graphisme"})
        assert near.status_code == 200 and "Cherche graphiste (affiche)" in near.text and "à 1" in near.text
        assert "Autour de :</span> Lille (59000), 25 km" in near.text and "radius_km=25" in near.text
        far = await client.get("/annonces", params={"pres": "Marseille", "rayon": "10", "skill": "graphisme"})
        assert far.status_code == 200 and "Cherche graphiste" not in far.text
        for bad in ({"pres": "Saint-Denis"}, {"pres": "Nulle-part-sur-Mer"}, {"pres": "Lille", "rayon": "7"}):
            r = await client.get("/annonces", params=bad)
            assert r.status_code == 400 and "Recherche invalide" in r.text, bad
        assert "Saint-Denis (93200)" in (await client.get("/annonces", params={"pres": "Saint-Denis"})).text
        assert (await client.get("/annonces/Pas-Un-Id")).status_code == 404
        r = await client.post(f"/annonces/{pid}/signaler", data={"reason": "rien"}, follow_redirects=False)
        assert r.status_code == 400 and "Motif inconnu." in r.text
        assert (await client.post(f"/annonces/{pid}/fermer", follow_redirects=False)).status_code == 303  # → login
        assert (await client.post(f"/annonces/{pid}/masquer", follow_redirects=False)).status_code == 303

        # a moderator hides it from the moderation page, then the author closes it
        await login(client, "modo@example.org")
        queue = await client.get("/annonces/moderation")
        assert queue.status_code == 200 and "Cherche graphiste (affiche)" in queue.text
        r = await client.post(f"/annonces/{pid}/masquer", data={"reason": "doublon"}, follow_redirects=False)
        assert r.status_code == 303
        assert "Annonce masquée par la modération : doublon" in (await client.get(f"/annonces/{pid}")).text
        await logout(client)
        assert (await client.get(f"/annonces/{pid}")).status_code == 404
        assert "Cherche graphiste" not in (await client.get("/projets/jardin-roubaix")).text
        await login(client, "porteur@example.org")
        assert "masquée par la modération" in (await client.get("/annonces/mes-annonces")).text
        r = await client.post(f"/annonces/{pid}/fermer", follow_redirects=False)
        assert r.status_code == 303 and "Annonce close" in (await client.get(f"/annonces/{pid}?close=1")).text
        schema = (await client.get("/schema/openapi.json")).json()
        assert {"/api/v1/matchmaking/posts", "/api/v1/matchmaking/map",
                "/api/v1/matchmaking/posts/{post_id}/suggestions"} <= set(schema["paths"])


PARAM_NAMES = ["q", "kind", "skill", "contract_type", "remote", "theme", "region", "departement", "commune", "lat",
               "lon", "radius_km", "bbox", "sort", "page", "per_page", "project", "zoom", "other"]
FIELD_NAMES = ["kind", "title", "description", "skills", "themes", "project_id", "commune", "remote", "deadline",
               "contract_type", "hours", "pay_min", "pay_max", "pay_period", "start_date", "availability"]


async def test_anything_a_user_sends_never_breaks_the_server(stack, env):
    """Random query strings on the search, map and page; random JSON bodies on publish: 2xx/4xx, never 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    url, users = env
    junk = st.one_of(st.text(max_size=30), st.sampled_from(["job_offer", "cdd", "59", "3.06", "-1", "1e9", "nan",
                                                            "2,3", "1,2,3,4", "comptabilite", "nearest"]))
    params = st.lists(st.tuples(st.sampled_from(PARAM_NAMES), junk), max_size=6)
    values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=40), st.lists(st.text(max_size=10), max_size=4),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    bodies = st.one_of(st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=10),
                       st.lists(st.integers(), max_size=3), st.text(max_size=20))
    async with AsyncTestClient(app=_app(stack, url)) as client:
        await login(client, "autre@example.org")
        for path in ("/api/v1/matchmaking/posts", "/api/v1/matchmaking/map", "/annonces"):
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
            @given(params)
            def check(p):
                seen.append(p)

            seen: list = []
            check()
            for p in seen:
                r = await client.get(path, params=p)
                assert r.status_code < 500, (path, p, r.text[:300])

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(bodies)
        def collect(b):
            sent.append(b)

        sent: list = []
        collect()
        for body in sent:
            r = await client.post("/api/v1/matchmaking/posts", json=body)
            assert r.status_code in (201, 400, 403), (body, r.status_code, r.text[:300])
