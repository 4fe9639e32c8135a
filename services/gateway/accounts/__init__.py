"""Accounts: users, sessions, roles, e-mail tokens, throttling, audit log, partner organisations."""
