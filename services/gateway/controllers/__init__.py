"""Route handlers kept apart from app.py, one module per area, collected here.

A module may also define ``lifespan(app)`` (an async context manager, entered after the gateway's
own: the engine and broker exist) for its background work (mail delivery, expiry...)."""

from services.gateway.controllers import accounts, claims, contact, dedup_admin, ingest, matchmaking, partners, previews

_MODULES = (ingest, partners, previews, dedup_admin, accounts, claims, matchmaking, contact)
EXTRA_ROUTES = [route for module in _MODULES for route in module.routes]
EXTRA_LIFESPANS = [module.lifespan for module in _MODULES if hasattr(module, "lifespan")]
