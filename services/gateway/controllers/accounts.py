"""Accounts: sign-up, e-mail verification, login, password reset, roles; operator partner management."""

routes: list = []
