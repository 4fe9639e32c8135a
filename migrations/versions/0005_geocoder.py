"""geocoder cache: answers of the optional online geocoder (BAN / addok), kept so
that a query is sent once, survives restarts and is shared by every geocoder replica.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE geocoder_cache (
            key         text PRIMARY KEY,            -- sha256 of provider + normalised query
            provider    text NOT NULL,               -- base URL of the addok-compatible service
            query       jsonb NOT NULL,              -- the parameters sent (q, postcode, citycode)
            response    jsonb,                       -- best feature, or NULL when nothing was found
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX geocoder_cache_created_at ON geocoder_cache (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS geocoder_cache")
