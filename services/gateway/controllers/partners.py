"""Partners and their crawl status (crawler issue)."""

routes: list = []
