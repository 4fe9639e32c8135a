"""Foundation schema: dedup state, canonical projects, search documents, partner API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    # indexer / dedup: one row per partner record, pointing at its canonical project
    op.execute(
        """
        CREATE TABLE source_records (
            record_key      text PRIMARY KEY,
            source          text NOT NULL,
            source_record_id text NOT NULL,
            dedup_key       text,
            canonical_id    text,
            content_hash    text NOT NULL,
            project         jsonb,
            location        jsonb,
            deleted         boolean NOT NULL DEFAULT false,
            first_seen      timestamptz NOT NULL DEFAULT now(),
            last_seen       timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX source_records_canonical ON source_records (canonical_id) WHERE NOT deleted")

    op.execute(
        """
        CREATE TABLE canonical_projects (
            id          text PRIMARY KEY,
            dedup_key   text NOT NULL UNIQUE,
            version     integer NOT NULL,
            project     jsonb,
            deleted     boolean NOT NULL DEFAULT false,
            first_seen  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )

    # search backend "postgres": written by the indexer, read by the gateway
    op.execute(
        """
        CREATE TABLE search_documents (
            id            text PRIMARY KEY,
            version       integer NOT NULL,
            deleted       boolean NOT NULL DEFAULT false,
            doc           jsonb,
            title_folded  text NOT NULL DEFAULT '',
            body_folded   text NOT NULL DEFAULT '',
            tsv           tsvector GENERATED ALWAYS AS (
                              setweight(to_tsvector('french', title_folded), 'A') ||
                              setweight(to_tsvector('french', body_folded), 'B')) STORED,
            theme         text[] NOT NULL DEFAULT '{}',
            stage         text,
            engineering   text[] NOT NULL DEFAULT '{}',
            holder_type   text,
            source        text[] NOT NULL DEFAULT '{}',
            region        text,
            departement   text,
            commune       text,
            lat           double precision,
            lon           double precision,
            first_seen    timestamptz,
            updated_at    timestamptz,
            indexed_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX search_tsv ON search_documents USING gin (tsv) WHERE NOT deleted")
    op.execute("CREATE INDEX search_title_trgm ON search_documents USING gin (title_folded gin_trgm_ops)")
    for col in ("theme", "engineering", "source"):
        op.execute(f"CREATE INDEX search_{col} ON search_documents USING gin ({col})")
    for col in ("stage", "holder_type", "region", "departement", "commune", "first_seen"):
        op.execute(f"CREATE INDEX search_{col} ON search_documents ({col})")
    op.execute("CREATE INDEX search_latlon ON search_documents (lat, lon) WHERE lat IS NOT NULL")

    # gateway: partner API keys (hash only)
    op.execute(
        """
        CREATE TABLE api_keys (
            id          bigserial PRIMARY KEY,
            partner     text NOT NULL,
            key_hash    text NOT NULL UNIQUE,
            prefix      text NOT NULL,
            scopes      text[] NOT NULL,
            label       text,
            created_at  timestamptz NOT NULL DEFAULT now(),
            revoked_at  timestamptz
        )
        """
    )


def downgrade() -> None:
    for table in ("api_keys", "search_documents", "canonical_projects", "source_records"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
