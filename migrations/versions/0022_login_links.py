"""login links: e-mailed single-use links (purpose 'login') that log an account in after too many
failed passwords — the challenge that replaces the per-account lock.

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check")
    op.execute("ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check "
               "CHECK (purpose IN ('verify', 'reset', 'login'))")


def downgrade() -> None:
    op.execute("DELETE FROM user_tokens WHERE purpose = 'login'")
    op.execute("ALTER TABLE user_tokens DROP CONSTRAINT IF EXISTS user_tokens_purpose_check")
    op.execute("ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_purpose_check "
               "CHECK (purpose IN ('verify', 'reset'))")
