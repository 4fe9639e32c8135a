"""contact between visitors and holders: conversations and messages.

A conversation is about one target (a project or a matchmaking post) between its sender (a
visitor: an account, or only a name and an e-mail) and its recipient (the project's verified
holder or the post's author — an account — or, for a project with no verified holder, the
project's published contact e-mail). Tokens (reply-to addresses, the anonymous visitor's secret
link) are stored as SHA-256 hashes only. ``contact_attempts`` holds the rate-limit counters
(hashed IP / sender), shared by every gateway replica.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE contact_conversations (
            id               bigserial PRIMARY KEY,
            target_kind      text NOT NULL CHECK (target_kind IN ('project', 'post')),
            target_id        text NOT NULL,
            project_id       text,
            subject          text NOT NULL,             -- the target's title when the conversation began
            sender_user_id   bigint,
            sender_name      text NOT NULL,
            sender_email     text NOT NULL,
            recipient_user_id bigint,                   -- NULL: recipient_email (project contact, no holder)
            recipient_email  text,
            state            text NOT NULL DEFAULT 'open' CHECK (state IN ('pending', 'open')),
            created_at       timestamptz NOT NULL DEFAULT now(),
            last_message_at  timestamptz NOT NULL DEFAULT now(),
            answered_at      timestamptz,
            CHECK (recipient_user_id IS NOT NULL OR recipient_email IS NOT NULL)
        )
        """
    )
    op.execute("CREATE INDEX contact_conversations_sender ON contact_conversations (sender_user_id, last_message_at DESC)")
    op.execute("CREATE INDEX contact_conversations_recipient ON contact_conversations "
               "(recipient_user_id, last_message_at DESC)")
    op.execute("CREATE INDEX contact_conversations_target ON contact_conversations (target_kind, target_id)")
    op.execute(
        """
        CREATE TABLE contact_messages (
            id               bigserial PRIMARY KEY,
            conversation_id  bigint NOT NULL REFERENCES contact_conversations (id) ON DELETE CASCADE,
            author           text NOT NULL CHECK (author IN ('sender', 'recipient')),
            body             text NOT NULL,
            body_hash        text NOT NULL,              -- normalised text, for duplicate suppression
            channel          text NOT NULL CHECK (channel IN ('web', 'api', 'email')),
            ip_hash          text,
            email_message_id text,                       -- Message-ID of an inbound e-mail (idempotent)
            hidden           boolean NOT NULL DEFAULT false,
            hidden_by        bigint,
            hidden_at        timestamptz,
            created_at       timestamptz NOT NULL DEFAULT now(),
            UNIQUE (conversation_id, email_message_id)
        )
        """
    )
    op.execute("CREATE INDEX contact_messages_conversation ON contact_messages (conversation_id, id)")
    op.execute("CREATE INDEX contact_messages_hash ON contact_messages (body_hash, created_at)")
    op.execute(
        """
        CREATE TABLE contact_tokens (
            token_hash       text PRIMARY KEY,           -- sha256 hex of the token; the token itself is never stored
            conversation_id  bigint NOT NULL REFERENCES contact_conversations (id) ON DELETE CASCADE,
            purpose          text NOT NULL CHECK (purpose IN ('reply_sender', 'reply_recipient', 'access')),
            created_at       timestamptz NOT NULL DEFAULT now(),
            expires_at       timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX contact_tokens_expires ON contact_tokens (expires_at)")
    op.execute(
        """
        CREATE TABLE contact_attempts (
            id        bigserial PRIMARY KEY,
            bucket    text NOT NULL,                     -- 'ip', 'sender', 'reply'
            key_hash  text NOT NULL,
            at        timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX contact_attempts_key ON contact_attempts (bucket, key_hash, at)")
    op.execute(
        """
        CREATE TABLE contact_reports (
            id               bigserial PRIMARY KEY,
            message_id       bigint NOT NULL REFERENCES contact_messages (id) ON DELETE CASCADE,
            reporter         text NOT NULL CHECK (reporter IN ('sender', 'recipient')),
            reporter_user_id bigint,
            reason           text NOT NULL,
            created_at       timestamptz NOT NULL DEFAULT now(),
            resolved_at      timestamptz,
            UNIQUE (message_id, reporter)
        )
        """
    )


def downgrade() -> None:
    for table in ("contact_reports", "contact_attempts", "contact_tokens", "contact_messages", "contact_conversations"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
