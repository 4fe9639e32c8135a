"""Matchmaking posts: calls for expertise, job offers, job searches, offers of expertise."""

routes: list = []
