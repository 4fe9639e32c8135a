"""crawl state and runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per URL the crawler fetched for a partner: validators for conditional GET, the
    # hash of the last body, and what the document gave (child links, record ids)
    op.execute(
        """
        CREATE TABLE crawl_urls (
            partner         text NOT NULL,
            url             text NOT NULL,
            etag            text,
            last_modified   text,
            content_hash    text,
            status          integer,
            links           jsonb NOT NULL DEFAULT '[]',
            record_ids      jsonb NOT NULL DEFAULT '[]',
            body            text,
            last_fetched    timestamptz,
            last_seen       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partner, url)
        )
        """
    )
    # one row per harvested record: its content hash (changed content emits an update) and how
    # many complete crawls in a row it has been missing from (a deletion after N)
    op.execute(
        """
        CREATE TABLE crawl_records (
            partner         text NOT NULL,
            record_id       text NOT NULL,
            content_hash    text NOT NULL,
            url             text,
            missing_cycles  integer NOT NULL DEFAULT 0,
            deleted         boolean NOT NULL DEFAULT false,
            last_seen       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partner, record_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE crawl_runs (
            id              bigserial PRIMARY KEY,
            partner         text NOT NULL,
            started_at      timestamptz NOT NULL DEFAULT now(),
            finished_at     timestamptz,
            status          text NOT NULL DEFAULT 'running',
            complete        boolean NOT NULL DEFAULT false,
            requests        integer NOT NULL DEFAULT 0,
            fetched         integer NOT NULL DEFAULT 0,
            not_modified    integer NOT NULL DEFAULT 0,
            unchanged       integer NOT NULL DEFAULT 0,
            new             integer NOT NULL DEFAULT 0,
            updated         integer NOT NULL DEFAULT 0,
            deleted         integer NOT NULL DEFAULT 0,
            rejected        integer NOT NULL DEFAULT 0,
            errors          integer NOT NULL DEFAULT 0,
            error_samples   jsonb NOT NULL DEFAULT '[]'
        )
        """
    )
    op.execute("CREATE INDEX crawl_runs_partner ON crawl_runs (partner, started_at DESC)")
    # the partners as configured in the crawler (the gateway lists them without reading YAML)
    op.execute(
        """
        CREATE TABLE crawl_partners (
            slug        text PRIMARY KEY,
            name        text NOT NULL,
            base_url    text NOT NULL,
            connector   text NOT NULL,
            licence     text,
            attribution text,
            enabled     boolean NOT NULL DEFAULT true,
            guessed     boolean NOT NULL DEFAULT false,
            schedule_s  double precision,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    for table in ("crawl_partners", "crawl_runs", "crawl_records", "crawl_urls"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
