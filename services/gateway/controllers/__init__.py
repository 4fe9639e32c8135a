"""Route handlers kept apart from app.py, one module per area, collected here."""

from services.gateway.controllers import dedup_admin, ingest, partners

EXTRA_ROUTES = [*ingest.routes, *partners.routes, *dedup_admin.routes]
