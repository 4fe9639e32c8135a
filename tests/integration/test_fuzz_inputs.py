"""Property tests on what anyone can send: the HTTP API and the topic payloads.

Whatever arrives, the outcome is the right one, not only "no crash": a topic payload is a valid
event that encodes back to itself, or a rejection whose reason names the JSON problem or the
failing field; an HTTP answer is a 2xx with the counts it should have, or a 4xx whose detail says
what is wrong (never a 5xx)."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from libs.contracts.events import (
    CanonicalChanged,
    ProjectGeocoded,
    ProjectNormalized,
    SourceRecordEvent,
)
from libs.runtime.messaging import Rejected, parse_event
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import create_api_key, fresh_database

MODELS = (SourceRecordEvent, ProjectNormalized, ProjectGeocoded, CanonicalChanged)
REASON = re.compile(r"^(payload is not valid JSON \(UTF-8\): .+|payload must be a JSON object, got \w+|"
                    r"invalid \w+: .+)$", re.S)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300) | json_values.map(orjson.dumps), model=st.sampled_from(MODELS))
def test_any_payload_is_an_event_or_a_reasoned_rejection(body, model):
    try:
        event = parse_event(model, body)
    except Rejected as exc:
        assert REASON.match(exc.reason), exc.reason
    else:
        assert parse_event(model, event.model_dump_json().encode()) == event, "an accepted event round-trips"


@settings(max_examples=200, deadline=None)
@given(record=st.fixed_dictionaries({}, optional={
    "source": st.text(max_size=70), "source_record_id": st.text(max_size=220), "url": st.text(max_size=80),
    "title": st.text(max_size=50), "lat": st.floats(), "lon": st.floats(), "themes": json_values,
    "contact": json_values, "postcode": st.text(max_size=12), "published_at": st.text(max_size=12),
}))
def test_any_upsert_shape_is_an_event_or_a_reasoned_rejection(record):
    body = orjson.dumps({"op": "upsert", "source": "x", "source_record_id": "1", "record": record},
                        option=orjson.OPT_SERIALIZE_NUMPY)
    try:
        event = parse_event(SourceRecordEvent, body)
    except Rejected as exc:
        assert exc.reason.startswith("invalid SourceRecordEvent: "), exc.reason
        fields = {part.split(":")[0].strip() for part in exc.reason.removeprefix("invalid SourceRecordEvent: ")
                  .split("; ") if ":" in part}
        assert fields and all(f.startswith(("record", "source", "op", "(+")) or f == "" for f in fields), exc.reason
    else:
        assert event.record is not None and event.record.source == record.get("source", "").strip()


@pytest.fixture(scope="module")
def gateway(stack):
    url = fresh_database(stack, "fuzz")
    key = "fuzz-" + uuid.uuid4().hex

    create_api_key(url, "fuzz-partner", key, label="fuzz")
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap))
    return app, key


PARAMS = ["q", "theme", "stage", "engineering", "holder_type", "source", "region", "departement", "commune",
          "lat", "lon", "radius_km", "bbox", "sort", "page", "per_page", "zoom"]
param_values = st.text(max_size=30) | st.integers(-10**12, 10**12).map(str) | st.floats().map(str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from(PARAMS), param_values), max_size=6))
async def test_search_never_fails_with_a_server_error(gateway, params):
    app, _ = gateway
    async with AsyncTestClient(app) as client:
        for path in ("/api/v1/search", "/"):
            r = await client.get(path, params=params)
            assert r.status_code in (200, 400), (path, params, r.status_code, r.text[:300])
            if path == "/api/v1/search" and r.status_code == 200:
                body = r.json()
                assert isinstance(body["total"], int) and len(body["hits"]) <= body["per_page"]
            elif path == "/api/v1/search":  # the refusal (detail, or the framework's extra) names a parameter sent
                assert r.json()["detail"] and any(name in r.text for name, _ in params), (params, r.text[:300])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400) | json_values.map(orjson.dumps)
       | st.lists(json_values, max_size=3).map(lambda rs: orjson.dumps({"records": rs})))
async def test_ingest_never_fails_with_a_server_error(gateway, body):
    app, key = gateway
    async with AsyncTestClient(app) as client:
        r = await client.post("/api/v1/ingest", content=body, headers={"X-API-Key": key,
                                                                        "content-type": "application/json"})
        assert r.status_code in (202, 400, 403, 413, 415, 422), (body[:200], r.status_code, r.text[:300])
        if r.status_code == 202:
            sent = orjson.loads(body)
            assert r.json()["accepted"] == len(sent.get("records", [])) + len(sent.get("deletions", []))
        else:
            assert r.json()["detail"].strip(), "a refusal says why"
