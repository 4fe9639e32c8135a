"""search country: the country of each search document, a facet like the region.

``country`` (ISO 3166-1 alpha-2 code of a located project, ``FR`` with overseas France; NULL when
unlocated) and ``country_name`` (its French name, the facet's label). Existing documents are filled
from their stored project's location; the names come from pycountry, as the indexer writes them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from libs.contracts.search import country_name

    for col in ("country", "country_name"):
        op.execute(f"ALTER TABLE search_documents ADD COLUMN IF NOT EXISTS {col} text")
    op.execute("""
        UPDATE search_documents SET country = doc->'project'->'location'->>'country'
        WHERE doc IS NOT NULL AND NOT deleted
          AND (doc->'project'->'location'->>'precision' <> 'none'
               OR doc->'project'->'location'->>'country' <> 'FR')
          AND doc->'project'->'location'->>'country' ~ '^[A-Z]{2}$'
        """)
    bind = op.get_bind()
    codes = [r[0] for r in bind.execute(sa.text(
        "SELECT DISTINCT country FROM search_documents WHERE country IS NOT NULL"))]
    for code in codes:
        bind.execute(sa.text("UPDATE search_documents SET country_name = :n WHERE country = :c"),
                     {"n": country_name(code), "c": code})


def downgrade() -> None:
    for col in ("country", "country_name"):
        op.execute(f"ALTER TABLE search_documents DROP COLUMN IF EXISTS {col}")
