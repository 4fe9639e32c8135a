"""The pure relevance rules (services/gateway/search/relevance.py): how a query's words are read,
which weigh, in what order, typo corrections, and the fair order of equally relevant hits."""

from __future__ import annotations

from collections import Counter

from libs.contracts.search import MEILI_SETTINGS, stop_words, synonym_groups
from services.gateway.search.relevance import (
    Concept,
    concepts,
    corrections,
    fair_order,
    make_plan,
    query_words,
    relevance_bucket,
    shuffle_key,
    similar_words,
)


def test_stop_words_numbers_and_single_letters_weigh_nothing():
    assert query_words("Projet d'aide alimentaire pour les étudiants à Lille en 2024") == [
        "projet", "aide", "alimentaire", "etudiants", "lille"]
    assert query_words("à vous") == ["a", "vous"]  # nothing but stop words: they still search
    assert {"le", "de", "et", "a", "ete", "les", "l", "qu"} <= stop_words()  # Snowball's, folded, + elisions


def test_synonyms_group_into_one_concept_and_the_last_plain_word_is_a_prefix():
    found = concepts(query_words("épicerie sociale tiers-lieu jardi"))
    assert [c.words for c in found] == [("epicerie", "sociale"), ("tiers", "lieu"), ("jardi",)]
    assert "epicerie solidaire" in found[0].alternatives and "tierslieu" in found[1].alternatives
    assert [c.prefix for c in found] == [False, False, True]
    # "économie sociale et solidaire" (stop word inside) = ESS; a repeated word counts once
    assert concepts(query_words("économie sociale et solidaire"))[0].alternatives[0] == "ess"
    assert len(concepts(["jardin", "jardin", "lilas"])) == 2


def test_synonyms_are_meilisearch_settings_too():
    groups = synonym_groups()
    assert any({"covoiturage", "co voiturage"} <= set(g) for g in groups)
    assert "epicerie solidaire" in MEILI_SETTINGS["synonyms"]["epicerie sociale"]
    assert MEILI_SETTINGS["stopWords"] == sorted(stop_words())
    assert MEILI_SETTINGS["rankingRules"][0] == "words"


def plain(word: str, position: int) -> Concept:
    return Concept((word,), (word,), position=position)


def test_plan_orders_by_rarity_then_position_and_drops_noise_and_unknown_words():
    found = [plain("projet", 0), plain("jardin", 1), plain("lilas", 2), plain("zzz", 3), plain("partage", 4)]
    plan = make_plan(found, [990, 120, 9, 0, 100], n_docs=1000)
    # projet (99 %) is noise, zzz matches nothing; lilas is rarest; jardin and partage are within a
    # factor of two of each other: the order typed decides
    assert [c.words[0] for c in plan.concepts] == ["lilas", "jardin", "partage"]
    assert set(plan.ignored) == {"projet", "zzz"} and plan.unknown == ("zzz",)
    # a small index says nothing about noise
    assert [c.words[0] for c in make_plan(found[:2], [9, 5], n_docs=12).concepts] == ["jardin", "projet"]
    # only noise: the rarest still searches; nothing known: no result
    assert [c.words[0] for c in make_plan(found[:1], [990], n_docs=1000).concepts] == ["projet"]
    assert make_plan([plain("zzz", 0)], [0], n_docs=1000).nothing


def test_typos_are_corrected_from_the_index_words_as_meilisearch_tolerates_them():
    vocabulary: dict[int, list[str]] = {}
    for w in ["radio", "raid", "jardin", "jardins", "ressourcerie", "epicerie", "velo"]:
        vocabulary.setdefault(len(w), []).append(w)
    assert corrections("raido", vocabulary) == ("radio", "raid")  # a swap is one typo
    assert corrections("jardn", vocabulary) == ("jardin",)
    assert corrections("ressourcreie", vocabulary) == ("ressourcerie",)  # 9 letters and more: two typos
    assert corrections("vleo", vocabulary) == ()  # under 5 letters: no typo
    assert corrections("epicrrei", vocabulary) == ()  # two typos in 8 letters: too far
    assert similar_words("jardinxxqz", vocabulary)[0] == "jardin"


def test_fair_order_spreads_each_set_of_sources_by_its_share():
    items = [(0, ("big",), shuffle_key(f"b{i}", "d"), f"b{i}") for i in range(6)]
    items += [(0, ("small",), shuffle_key(f"s{i}", "d"), f"s{i}") for i in range(3)]
    items += [(1, ("small",), 5, "top")]
    order = [items[i][3] for i in fair_order(items)]
    assert order[0] == "top"  # more relevant first, whatever the source
    sources = [o[0] for o in order[1:]]
    for k in range(1, len(sources) + 1):
        assert Counter(sources[:k])["b"] <= round(k * 6 / 9) + 1
    assert sources[:3].count("s") == 1
    # the day changes the order, not the spread
    other = [(b, s, shuffle_key(pid, "e"), pid) for b, s, _, pid in items]
    assert [other[i][3] for i in fair_order(other)] != order


def test_relevance_steps_and_shuffle_key():
    assert relevance_bucket(2.37) == 23 and relevance_bucket(0.0) == 0
    assert shuffle_key("p1", "2026-12-07") == int(__import__("hashlib").md5(b"p12026-12-07").hexdigest()[:15], 16)
