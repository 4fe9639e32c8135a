"""Every limit of the partner push and the export, at, one past and far beyond it, through the real
gateway app, database and broker: 4xx with a reason (never 5xx), and bad lines dead-lettered."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.partners.ingest import BULK_REJECT_LETTERS
from services.gateway.partners.keys import ApiKeys
from services.gateway.settings import GatewaySettings
from services.gateway.web.request_limits import MAX_JSON_DEPTH
from tests.conftest import create_api_key, fresh_database, read_deadletters

PARTNER = "limits-partner"


def _record(i: int | str, **extra) -> dict:
    return {"source": PARTNER, "source_record_id": f"r-{i}", "url": "https://exemple.org/p",
            "title": f"Projet {i}", **extra}


@pytest.fixture(scope="module")
def gateway(stack):
    url = fresh_database(stack, "limits")
    key = "limits-" + uuid.uuid4().hex
    create_api_key(url, PARTNER, key, label="limits")
    return url, key


def _app(stack, url: str, **settings):
    return create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, **settings))


def _nest(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


async def test_json_nesting_is_refused_past_the_limit_on_every_ingest_shape(stack, gateway):
    url, key = gateway
    headers = {"X-API-Key": key, "content-type": "application/json"}
    async with AsyncTestClient(_app(stack, url)) as client:
        for depth in (MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 1000, 100_000):
            inner = b"[" * (depth - 3) + b"]" * (depth - 3)  # {"records":[{"themes": inner}]} is depth
            single = b'{"records":[{"themes":' + inner + b"}]}"
            array = b'[{"themes":' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}]"
            ndjson = b'{"ok":1}\n{"themes":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}\n"
            for path, body, ctype in (("/api/v1/ingest", single, "application/json"),
                                      ("/api/v1/ingest/bulk", array, "application/json"),
                                      ("/api/v1/ingest/bulk", ndjson, "application/x-ndjson")):
                r = await client.post(path, content=body, headers={**headers, "content-type": ctype})
                assert r.status_code in (400, 202), (path, depth, r.status_code, r.text[:200])
                nested_refused = "nested" in r.text
                assert nested_refused == (depth > MAX_JSON_DEPTH), (path, depth, r.text[:200])


async def test_a_bulk_line_of_any_size_is_answered_and_dead_lettered_and_good_lines_go_through(stack, gateway):
    url, key = gateway
    cid = "big-" + uuid.uuid4().hex[:8]
    limit = 20_000  # the contract's longest description
    sizes = [limit - 1, limit, limit + 1, 99_999, 100_000, 100_001, 1_000_000, 5_000_000]
    lines = [orjson.dumps(_record("good-1"))]
    for size in sizes:  # a description at the contract's limit, past it, and past every other limit
        lines.append(orjson.dumps(_record(f"big-{size}", description="é" * size)))
    lines.append(orjson.dumps(_record("good-2")))
    body = await _bulk(stack, url, key, cid, lines)
    over = [s for s in sizes if s > limit]
    assert body["accepted"] == 2 + len(sizes) - len(over) and body["rejected"] == len(over)
    assert all("description" in rj["reason"] for rj in body["rejects"])
    letters = await read_deadletters(stack.bootstrap, lambda d: d["correlation_id"] == cid, want=len(over) + 1,
                                     timeout=8)
    assert sorted(d["payload_bytes"] for d in letters) == sorted(len(lines[i + 1]) for i, s in enumerate(sizes)
                                                                  if s > limit)
    assert all(len(d["payload"]) <= 65_536 for d in letters)
    assert [d["payload_truncated"] for d in sorted(letters, key=lambda d: d["payload_bytes"])] == \
        [len(lines[i + 1].decode()) > 65_536 for i, s in enumerate(sizes) if s > limit]


@pytest.mark.parametrize("bad", [BULK_REJECT_LETTERS, BULK_REJECT_LETTERS + 1, 5_000])
async def test_rejects_of_one_push_are_capped_in_letters_and_all_counted(stack, gateway, bad):
    url, key = gateway
    cid = f"cap{bad}-" + uuid.uuid4().hex[:8]
    lines = [orjson.dumps(_record(f"g-{bad}-{i}")) for i in range(3)]
    lines += [orjson.dumps({"source": PARTNER, "n": i}) for i in range(bad)]
    body = await _bulk(stack, url, key, cid, lines)
    assert body["accepted"] == 3 and body["rejected"] == bad
    assert len(body["rejects"]) == min(bad, 100) and sum(body["reject_kinds"].values()) == bad
    want = min(bad, BULK_REJECT_LETTERS) + (1 if bad > BULK_REJECT_LETTERS else 0)
    letters = await read_deadletters(stack.bootstrap, lambda d: d["correlation_id"] == cid, want=want + 1,
                                     timeout=4)
    assert len(letters) == want
    summaries = [d for d in letters if d["error_type"] == "rejected_summary"]
    if bad > BULK_REJECT_LETTERS:
        assert len(summaries) == 1 and f"{bad - BULK_REJECT_LETTERS} more rejected lines" in summaries[0]["reason"]
        assert sum(orjson.loads(summaries[0]["payload"])["kinds"].values()) == bad - BULK_REJECT_LETTERS
    else:
        assert summaries == []


async def _bulk(stack, url: str, key: str, cid: str, lines: list[bytes]) -> dict:
    """One NDJSON push under correlation id ``cid``; its 202 answer."""
    async with AsyncTestClient(_app(stack, url)) as client:
        r = await client.post("/api/v1/ingest/bulk", content=b"\n".join(lines),
                              headers={"X-API-Key": key, "content-type": "application/x-ndjson",
                                       "X-Correlation-Id": cid})
    assert r.status_code == 202, r.text[:300]
    return r.json()


async def _key(url: str, name: str) -> str:
    engine = create_async_engine(url)
    try:
        return await ApiKeys(engine).create(PARTNER, ("ingest",), name, f"{name}-{uuid.uuid4().hex}")
    finally:
        await engine.dispose()


async def _fresh_minute(url: str) -> None:
    """Wait, if needed, so that a test's pushes all fall within one minute of the counters."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            left = (await conn.execute(text(
                "SELECT 60 - extract(epoch FROM now() - date_trunc('minute', now()))"))).scalar_one()
    finally:
        await engine.dispose()
    if left < 8:
        await asyncio.sleep(float(left) + 0.2)


async def test_requests_per_key_are_limited_at_one_past_and_far_beyond(stack):
    url = fresh_database(stack, "ratelimit")
    key, other = await _key(url, "rl"), await _key(url, "rl2")
    await _fresh_minute(url)
    async with AsyncTestClient(_app(stack, url, ingest_requests_per_minute=3)) as client:
        statuses = []
        for i in range(20):
            r = await client.post("/api/v1/ingest", json={"records": [_record(f"rl-{i}")]},
                                  headers={"X-API-Key": key})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert 1 <= int(r.headers["retry-after"]) <= 60 and "requests" in r.text
        assert statuses == [202] * 3 + [429] * 17
        r = await client.post("/api/v1/ingest", json={"records": [_record("other")]}, headers={"X-API-Key": other})
        assert r.status_code == 202, "the limit is per key"


async def test_records_per_key_are_limited_across_both_endpoints(stack):
    url = fresh_database(stack, "recordlimit")
    key = await _key(url, "rec")
    await _fresh_minute(url)
    async with AsyncTestClient(_app(stack, url, ingest_records_per_minute=10)) as client:
        ndjson = b"\n".join(orjson.dumps(_record(f"b-{i}")) for i in range(9))
        headers = {"X-API-Key": key, "content-type": "application/x-ndjson"}
        assert (await client.post("/api/v1/ingest/bulk", content=ndjson, headers=headers)).status_code == 202
        r = await client.post("/api/v1/ingest", json={"records": [_record("tenth")]}, headers={"X-API-Key": key})
        assert r.status_code == 202, "at the limit"
        r = await client.post("/api/v1/ingest", json={"records": [_record("eleventh")]}, headers={"X-API-Key": key})
        assert r.status_code == 429 and "records" in r.text
        r = await client.post("/api/v1/ingest/bulk", content=ndjson * 50, headers=headers)
        assert r.status_code == 429


@pytest.mark.parametrize("params", [
    {"q": "((("}, {"q": "\u200b\u200b"}, {"q": "\u200b", "sort": "relevance", "lat": "48.85", "lon": "2.35"},
    {"sort": "relevance", "lat": "48.85", "lon": "2.35"}, {"sort": "nearest"}, {"q": "'\" ; -- )"},
])
async def test_export_of_a_query_that_folds_to_nothing_is_complete(stack, gateway, params):
    url, _ = gateway
    async with AsyncTestClient(_app(stack, url)) as client:
        r = await client.get("/api/v1/export", params={**params, "format": "json"})
        assert r.status_code in (200, 400), r.text[:300]
        if r.status_code == 200:
            assert isinstance(orjson.loads(r.content)["projects"], list), "a whole JSON document"


@pytest.mark.parametrize("params", [{"format": "xml"}, {"limit": "0"}, {"limit": "10000000"}, {"bbox": "1,2,3"},
                                    {"lat": "91", "lon": "2"}, {"sort": "random"},
                                    {"nope": "1"}])
async def test_export_refuses_a_bad_query_before_streaming(stack, gateway, params):
    url, _ = gateway
    async with AsyncTestClient(_app(stack, url)) as client:
        r = await client.get("/api/v1/export", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text[:200])
