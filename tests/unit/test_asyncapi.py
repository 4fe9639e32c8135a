"""libs/contracts/asyncapi.json is the document the services' brokers generate today, valid AsyncAPI 3.0
(the schema from the npm package @asyncapi/specs 6.11.1, Apache-2.0, in tests/data), listing every
topic with the JSON schema of its contract model."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from libs.contracts.topics import ALL_TOPICS
from tools.asyncapi import DOCUMENT, TOPIC_PAYLOADS, asyncapi_document, render
from tools.devstack import ROOT

SCHEMA = json.loads((ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json").read_text())


@pytest.fixture(scope="module")
def doc() -> dict:
    return asyncapi_document()


def _validator():
    return jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


def test_committed_document_is_current(doc):
    assert DOCUMENT.read_text() == render(doc), "libs/contracts/asyncapi.json is stale: run `carrefour asyncapi`"


def test_document_is_valid_asyncapi_3(doc):
    errors = [f"{e.json_path}: {e.message[:200]}" for e in _validator().iter_errors(doc)]
    assert errors == []
    broken = copy.deepcopy(doc)
    del broken["info"]  # the validator does reject a document missing a required member
    assert not _validator().is_valid(broken)


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_topic_is_listed_with_its_contract_payload(doc):
    assert set(TOPIC_PAYLOADS) == set(ALL_TOPICS)
    by_topic: dict[str, set[str]] = {}
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            payload = _resolve(doc, ref["$ref"])["payload"]
            by_topic.setdefault(channel["address"], set()).add(payload["$ref"].rsplit("/", 1)[1])
    assert set(by_topic) == set(ALL_TOPICS)
    for topic, payloads in by_topic.items():
        assert payloads == {TOPIC_PAYLOADS[topic].__name__}, topic


def test_every_reference_resolves_and_payloads_are_the_models_schemas(doc):
    for ref in set(_refs(doc)):
        assert _resolve(doc, ref) is not None, ref
    for model in set(TOPIC_PAYLOADS.values()):
        schema = doc["components"]["schemas"][model.__name__]
        assert set(schema["properties"]) == set(model.model_fields), model.__name__
        assert set(schema.get("required", ())) == {n for n, f in model.model_fields.items() if f.is_required()}


def test_subscribers_come_from_the_services_apps(doc):
    receivers = {(c["address"], name.split(":")[0]) for name, c in doc["channels"].items()
                 if any(o["action"] == "receive" and o["channel"]["$ref"] == f"#/channels/{name}"
                        for o in doc["operations"].values())}
    assert ("projects.normalized.v1", "geocoder") in receivers
    assert ("projects.geocoded.v1", "indexer") in receivers
    assert ("partner.ingest.v1", "normalizer") in receivers


def test_the_gateway_serves_the_document_beside_the_openapi_one():
    from litestar.testing import create_test_client

    from services.gateway.web.specs import routes

    with create_test_client(route_handlers=routes) as client:
        r = client.get("/schema/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    served = r.json()
    assert served == json.loads(DOCUMENT.read_text())
    assert {c["address"] for c in served["channels"].values()} >= set(ALL_TOPICS)
