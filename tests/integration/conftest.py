"""Fixtures shared by the integration tests (the session's broker and database are in tests/conftest.py)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from libs.contracts.topics import DEDUP_OVERRIDES
from tests.fixtures.crawler.sites_fixture import serve_copy


@pytest.fixture
def site(tmp_path):
    """The fixture partner sites, a private copy served on a free local port."""
    server = serve_copy(tmp_path)
    yield server
    server.close()


@pytest.fixture
async def overrides_consumer(stack):
    """A consumer of the dedup overrides the gateway publishes, from the topic's end, for one test."""
    consumer = AIOKafkaConsumer(DEDUP_OVERRIDES, bootstrap_servers=stack.bootstrap, auto_offset_reset="latest",
                                group_id=None)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        yield consumer
    finally:
        await consumer.stop()
