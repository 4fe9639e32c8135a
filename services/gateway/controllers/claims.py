"""Project claims and the fields a verified holder edits."""

routes: list = []
