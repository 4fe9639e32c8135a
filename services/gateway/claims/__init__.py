"""Project claims (a holder takes charge of a canonical project) and the fields a holder edits.

``domain`` is pure (rules, validation, tokens); ``store`` is the SQL; the routes are in
``services/gateway/claims/routes.py``."""
