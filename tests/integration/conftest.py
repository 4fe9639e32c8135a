"""Fixtures shared by the integration tests (the session's broker and database are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.crawler.sites_fixture import serve_copy


@pytest.fixture
def site(tmp_path):
    """The fixture partner sites, a private copy served on a free local port."""
    server = serve_copy(tmp_path)
    yield server
    server.close()
