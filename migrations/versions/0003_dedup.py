"""scored deduplication: records with features, blocks, scored matches, operator
overrides, canonical projects with stable ids.

Replaces the foundation's exact-key tables ``source_records`` and ``canonical_projects`` (nothing
was in production); ``search_documents`` and ``api_keys`` are untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS source_records")
    op.execute("DROP TABLE IF EXISTS canonical_projects")
    # one row per partner record (kept after deletion: its last canonical id makes a returning
    # record come back under the same URL)
    op.execute(
        """
        CREATE TABLE dedup_records (
            record_key       text PRIMARY KEY,
            source           text NOT NULL,
            source_record_id text NOT NULL,
            url              text NOT NULL,
            content_hash     text NOT NULL,
            project          jsonb,
            location         jsonb,
            features         jsonb,
            canonical_id     text,
            match_weight     double precision,
            deleted          boolean NOT NULL DEFAULT false,
            first_seen       timestamptz NOT NULL DEFAULT now(),
            last_seen        timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX dedup_records_canonical ON dedup_records (canonical_id) WHERE NOT deleted")
    # blocking: candidate pairs share a key (commune, commune+word, département+word, rare word,
    # website domain, e-mail, phone, URL)
    op.execute(
        """
        CREATE TABLE dedup_blocks (
            block_key  text NOT NULL,
            record_key text NOT NULL,
            PRIMARY KEY (block_key, record_key)
        )
        """
    )
    op.execute("CREATE INDEX dedup_blocks_record ON dedup_blocks (record_key)")
    # how many records each block holds: blocks over the cap are skipped without reading them
    op.execute("CREATE TABLE dedup_block_sizes (block_key text PRIMARY KEY, n integer NOT NULL)")
    # scored pairs (record_a < record_b), with the comparison levels that decided
    op.execute(
        """
        CREATE TABLE dedup_matches (
            record_a    text NOT NULL,
            record_b    text NOT NULL,
            weight      double precision NOT NULL,
            probability double precision NOT NULL,
            matched     boolean NOT NULL,
            rule        text,
            explanation jsonb NOT NULL,
            scored_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (record_a, record_b),
            CHECK (record_a < record_b)
        )
        """
    )
    op.execute("CREATE INDEX dedup_matches_b ON dedup_matches (record_b)")
    # operator decisions, written by the gateway's admin endpoint, respected by every later run
    op.execute(
        """
        CREATE TABLE dedup_overrides (
            record_a   text NOT NULL,
            record_b   text NOT NULL,
            decision   text NOT NULL CHECK (decision IN ('same', 'not_same')),
            operator   text,
            reason     text,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (record_a, record_b),
            CHECK (record_a < record_b)
        )
        """
    )
    op.execute("CREATE INDEX dedup_overrides_b ON dedup_overrides (record_b)")
    op.execute(
        """
        CREATE TABLE canonical_projects (
            id          text PRIMARY KEY,
            version     integer NOT NULL,
            project     jsonb,
            deleted     boolean NOT NULL DEFAULT false,
            first_seen  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    for table in ("canonical_projects", "dedup_overrides", "dedup_matches", "dedup_block_sizes", "dedup_blocks",
                  "dedup_records"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute(
        """
        CREATE TABLE source_records (
            record_key text PRIMARY KEY, source text NOT NULL, source_record_id text NOT NULL, dedup_key text,
            canonical_id text, content_hash text NOT NULL, project jsonb, location jsonb,
            deleted boolean NOT NULL DEFAULT false, first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now())
        """
    )
    op.execute("CREATE INDEX source_records_canonical ON source_records (canonical_id) WHERE NOT deleted")
    op.execute(
        """
        CREATE TABLE canonical_projects (
            id text PRIMARY KEY, dedup_key text NOT NULL UNIQUE, version integer NOT NULL, project jsonb,
            deleted boolean NOT NULL DEFAULT false, first_seen timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())
        """
    )
