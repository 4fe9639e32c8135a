"""partner directory: the gateway's own copy of the partners the crawler harvests and of their runs,
fed by ``crawl.partners.v1`` (the gateway no longer reads the crawler's tables).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE partner_directory (
            slug         text PRIMARY KEY,
            name         text NOT NULL,
            base_url     text,
            connector    text,
            licence      text,
            attribution  text,
            enabled      boolean NOT NULL DEFAULT true,
            guessed      boolean NOT NULL DEFAULT false,
            schedule_s   double precision,
            records      integer,
            updated_at   timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE partner_runs (
            partner        text NOT NULL,
            run_id         bigint NOT NULL,
            status         text NOT NULL,
            complete       boolean NOT NULL DEFAULT false,
            started_at     timestamptz,
            finished_at    timestamptz,
            counts         jsonb NOT NULL DEFAULT '{}',
            error_samples  jsonb NOT NULL DEFAULT '[]',
            by_rule        jsonb NOT NULL DEFAULT '{}',
            first_reasons  jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (partner, run_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS partner_runs")
    op.execute("DROP TABLE IF EXISTS partner_directory")
