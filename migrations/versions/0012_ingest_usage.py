"""ingest usage: per-key counters for the partner push rate limits.

One row per API key and minute: requests and records received. The gateway adds to it in one
statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so every replica and worker counts
against the same figures. Rows older than a day are removed by the gateway's cleanup.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS ingest_usage ("
               "api_key_id bigint NOT NULL, minute timestamptz NOT NULL, "
               "requests integer NOT NULL DEFAULT 0, records integer NOT NULL DEFAULT 0, "
               "PRIMARY KEY (api_key_id, minute))")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ingest_usage")
