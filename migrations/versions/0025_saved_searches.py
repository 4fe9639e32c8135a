"""saved searches and alerts: a user's saved searches and the matches waiting for their digest.

- ``alert_searches``: one row per saved search (its query string as ``[name, value]`` pairs, the
  digest frequency, ``gate`` — the keys one of which a project or post must carry to possibly match,
  GIN-indexed so the alert consumer looks up the few candidate searches of each change; ``gate2``:
  the same for the next most selective requirement, checked in the same statement —, ``nonce``:
  random, signs the unsubscribe link);
- ``alert_matches``: a project or post that matched a saved search since its last digest (one row
  per search and item; ``version`` keeps replays from counting twice; ``sent_at`` once mailed).

The gateway's own tables, fed by its ``gateway-alerts`` consumer of ``projects.canonical.v1`` and
``matchmaking.v1``.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS alert_searches (
            id            bigserial PRIMARY KEY,
            user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name          text NOT NULL,
            params        jsonb NOT NULL,
            frequency     text NOT NULL CHECK (frequency IN ('daily', 'weekly')),
            gate          text[] NOT NULL DEFAULT '{}',
            gate2         text[] NOT NULL DEFAULT '{}',
            nonce         text NOT NULL,
            active        boolean NOT NULL DEFAULT true,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_sent_at  timestamptz,
            unsubscribed_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX IF NOT EXISTS alert_searches_user ON alert_searches (user_id)")
    op.execute("CREATE INDEX IF NOT EXISTS alert_searches_gate ON alert_searches USING gin (gate) WHERE active")
    op.execute("CREATE INDEX IF NOT EXISTS alert_searches_ungated ON alert_searches (id) "
               "WHERE active AND gate = '{}'")
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS alert_matches (
            search_id   bigint NOT NULL REFERENCES alert_searches (id) ON DELETE CASCADE,
            item_kind   text NOT NULL CHECK (item_kind IN ('project', 'post')),
            item_id     text NOT NULL,
            version     bigint NOT NULL,
            change      text NOT NULL CHECK (change IN ('new', 'changed')),
            title       text NOT NULL,
            place       text,
            matched_at  timestamptz NOT NULL DEFAULT now(),
            sent_at     timestamptz,
            PRIMARY KEY (search_id, item_kind, item_id)
        )
        """
    )
    op.execute("CREATE INDEX IF NOT EXISTS alert_matches_item ON alert_matches (item_kind, item_id)")
    op.execute("CREATE INDEX IF NOT EXISTS alert_matches_pending ON alert_matches (search_id) WHERE sent_at IS NULL")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alert_matches")
    op.execute("DROP TABLE IF EXISTS alert_searches")
