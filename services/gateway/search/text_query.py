"""The text part of a PostgreSQL search, shared by the project search and the matchmaking posts."""

from __future__ import annotations

from collections.abc import Sequence


def word_conditions(tokens: Sequence[str], params: dict, typo_column: str,
                    indexed: Sequence[bool] | None = None) -> list[str]:
    """One condition per word, every word must match: in the French full text ``tsv`` (the last
    word as a prefix) or, for typos, by trigram word similarity to ``typo_column``. With
    ``indexed`` (is the word in the text vocabulary?), only the branch that can match is kept.
    Binds ``tsq`` (all words, for ranking), ``qf`` (the folded query) and ``t{i}``/``w{i}``."""
    if not tokens:
        return []
    terms = [t + (":*" if i == len(tokens) - 1 else "") for i, t in enumerate(tokens)]
    params["tsq"] = " & ".join(terms)
    params["qf"] = " ".join(tokens)
    where = []
    for i, (term, token) in enumerate(zip(terms, tokens)):
        params[f"t{i}"], params[f"w{i}"] = term, token
        full_text, typo = f"tsv @@ to_tsquery('french', :t{i})", f":w{i} <% {typo_column}"
        if indexed is None:
            where.append(f"({full_text} OR {typo})")
        else:
            where.append(full_text if indexed[i] else typo)
    return where
