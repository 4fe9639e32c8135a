"""Contact between visitors and holders: conversations, messages, replies by e-mail."""

routes: list = []
