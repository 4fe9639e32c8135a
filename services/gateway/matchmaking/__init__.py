"""Matchmaking posts: calls for expertise, job offers, job searches, offers of expertise.

- ``skills``: the controlled vocabulary of skills (data) and the free-text fallback;
- ``domain``: pure rules — validation, search query, suggestions with French explanations, expiry;
- ``places``: the communes of the gazetteer data file (read, never the geocoder's code);
- ``store``: SQL (PostgreSQL: French full-text + pg_trgm), the only module with I/O besides places.
"""
