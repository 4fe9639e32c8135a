"""The contract's fold (computed with tables) gives exactly its definition: unidecode, lower case,
alphanumerics kept, spaces collapsed."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from unidecode import unidecode

from libs.contracts.text import fold


def contract_fold(text: str) -> str:
    """The definition, step by step."""
    return " ".join(re.sub("[^a-z0-9]+", " ", unidecode(text).lower()).split())


SAMPLES = ["Zéro Déchet !", "Épicerie solidaire — Saint-Étienne", "ŒUVRE cœur Straße", "l'été à Paris (75)",
           "  spaces\tand\nnewlines  ", "", "ﬁ ligature, ½, ², Ⅻ", "日本語 текст ελληνικά", "emoji 🌱 jardin",
           "ǅ ǈ ǋ titlecase digraphs", "İstanbul ı", "\u0301combining accent", "tab\x00nul"]


def test_known_samples_fold_as_the_contract():
    for text in SAMPLES:
        assert fold(text) == contract_fold(text), text
    assert fold("Zéro Déchet !") == "zero dechet"


@settings(max_examples=3000, deadline=None)
@given(st.text(max_size=80))
def test_any_text_folds_as_the_contract(text):
    assert fold(text) == contract_fold(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0xD800 - 200, max_codepoint=0x10FFFF), max_size=40))
def test_any_code_point_folds_as_the_contract(text):
    assert fold(text) == contract_fold(text)
