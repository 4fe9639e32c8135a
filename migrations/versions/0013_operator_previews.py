"""operator previews: the crawl previews operators asked for from the web page, and the answers.

The gateway writes a row when an operator asks (``pending``), publishes the request on
``crawl.preview_requests.v1``, and stores the crawler's answer from ``crawl.previews.v1`` in
``result`` (the event as JSON, bounded by its contract). The gateway's own table: the crawler never
reads it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS operator_previews ("
               "id text PRIMARY KEY, partner text NOT NULL, requested_by bigint, "
               "requested_at timestamptz NOT NULL DEFAULT now(), config_yaml text, max_pages integer NOT NULL, "
               "status text NOT NULL DEFAULT 'pending', answered_at timestamptz, result jsonb)")
    op.execute("CREATE INDEX IF NOT EXISTS operator_previews_partner ON operator_previews (partner, requested_at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS operator_previews")
