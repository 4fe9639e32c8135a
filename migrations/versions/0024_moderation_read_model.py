"""moderation read model: the gateway's own copy of the scored pairs (``dedup_pairs``, fed by the indexer's
``dedup.pairs.v1``) and its own log of operator decisions (``dedup_decisions``, copied once from
``dedup_overrides``, which from now on only the indexer writes).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dedup_pairs (
            record_a     text NOT NULL,
            record_b     text NOT NULL,
            weight       double precision NOT NULL,
            probability  double precision NOT NULL,
            matched      boolean NOT NULL,
            rule         text,
            pending      boolean NOT NULL,
            explanation  jsonb NOT NULL DEFAULT '{}',
            a            jsonb NOT NULL,
            b            jsonb NOT NULL,
            updated_at   timestamptz NOT NULL,
            PRIMARY KEY (record_a, record_b)
        )
        """
    )
    op.execute("CREATE INDEX dedup_pairs_b ON dedup_pairs (record_b)")
    op.execute("CREATE INDEX dedup_pairs_pending ON dedup_pairs (weight DESC) WHERE pending")
    op.execute(
        """
        CREATE TABLE dedup_decisions (
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
    op.execute("INSERT INTO dedup_decisions SELECT record_a, record_b, decision, operator, reason, created_at "
               "FROM dedup_overrides")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dedup_decisions")
    op.execute("DROP TABLE IF EXISTS dedup_pairs")
