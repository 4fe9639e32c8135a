"""Language detection (pure) with lingua, restricted to the languages partners publish in.

Low-accuracy mode (trigram models only) keeps the detector at about 35 MB RSS for the whole
process and ~0.1 ms per text, instead of ~240 MB with the high-accuracy models; on texts of a
sentence or more it is just as right, and titles alone are too short to trust either way.
Plainly French samples (most partner records) skip lingua altogether: see ``plainly_french``.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from lingua import Language, LanguageDetectorBuilder

LANGUAGES = (Language.FRENCH, Language.ENGLISH, Language.GERMAN, Language.SPANISH, Language.ITALIAN)
"""French, and the languages of the neighbours whose projects partners list: each more costs ~15 %."""
MIN_LETTERS = 20
"""Shorter texts are not detected (None): a title of three words says little."""
SAMPLE_CHARS = 100
MIN_CONFIDENCE = 0.5

_lock = threading.Lock()

# Fast path: a sample that is plainly French is answered without lingua (~6 µs instead of ~55).
# Evidence, on the lower-cased sample: distinct French function words that are rare in the other
# candidate languages (STRONG, 1 point each), ambiguous ones (WEAK: le la de en un, ½ point each)
# and one point when a French diacritic is present. No word of FOREIGN (the commonest function
# words of English, German, Spanish, Italian, and a few Breton/Occitan ones) and no letter of
# FOREIGN_LETTERS may occur at all: one is enough to hand the text to lingua, as is a score below
# FAST_MIN_SCORE or fewer than two STRONG words. The answer is ("fr", 1.0): 1.0 is what lingua
# itself gives (rounded to 3 decimals) to ~97 % of the texts this fires on; see
# tests/unit/test_normalizer_language.py for the comparison with lingua over the corpora.
_WORD = re.compile(r"[^\W\d_]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STRONG = _words("les des est une pour dans avec aux sur du au et d l qu sont cette leur leurs nous vous "
                "ces ses où été à par")
WEAK = _words("le la de en un")
FOREIGN = _words(
    "the and of with is for to in on are this that from by was at an our we their its has have be will it as or "
    "which who "  # English
    "der die das und ist mit für nicht ein eine zu den dem im von auf sich wir sie auch bei nach über aus werden "  # German
    "el los las y con para por es una del lo se como más al su sus pero este esta "  # Spanish
    "il della di che per gli è sono nel degli alla delle uno dei anche questo si "  # Italian
    "amb dins ar eus ha e o")  # Occitan, Breton
FOREIGN_LETTERS = frozenset("ñßäöüìòáíóú¿¡")
FRENCH_MARKS = frozenset("éèêçœàâîôûëïù")
FAST_MIN_SCORE = 4
"""4: the fast path answers ~90 % of the benchmark's records and ~65 % of the dedup and demo texts
(≈ 50 µs less per record than lingua alone). Over 25,609 texts gathered (benchmark, dedup set,
demo sites, crawler fixtures) it differs from lingua on 39-44 texts (99.83 % agreement), and every
one of them, read by hand, is French that lingua's low-accuracy trigrams call English or German
because of an Alsatian or Flemish place name (« Atelier vélo Reichstett … porté par des habitants
de Reichstett ») — never the reverse: at this threshold the fast path is wrong less often than
lingua. (4.5 answered fewer texts, agreed on 99.91 %, and kept those lingua errors.)"""
FAST_CONFIDENCE = 1.0


def plainly_french(sample: str) -> bool:
    """True when the sample carries overwhelming French evidence and nothing of another language."""
    low = sample.lower()
    if not FOREIGN_LETTERS.isdisjoint(low):
        return False
    words = set(_WORD.findall(low))
    if not FOREIGN.isdisjoint(words):
        return False
    strong = len(words & STRONG)
    if strong < 2:
        return False
    score = strong + 0.5 * len(words & WEAK) + (0 if FRENCH_MARKS.isdisjoint(low) else 1)
    return score >= FAST_MIN_SCORE


@lru_cache(maxsize=1)
def _detector():
    with _lock:
        return (LanguageDetectorBuilder.from_languages(*LANGUAGES).with_low_accuracy_mode()
                .with_preloaded_language_models().build())


def preload() -> None:
    """Build the detector (and load its models) now."""
    _detector()


def detect(text: str) -> tuple[str | None, float | None]:
    """(ISO 639-1 code, confidence) of the text, or (None, None) when too short or unsure."""
    sample = text[:SAMPLE_CHARS]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return None, None
    if plainly_french(sample):
        return "fr", FAST_CONFIDENCE
    return _detect_sample(sample)


def detect_with_lingua(text: str) -> tuple[str | None, float | None]:
    """What ``detect`` answers without the fast path (for comparisons)."""
    sample = text[:SAMPLE_CHARS]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return None, None
    return _detect_sample(sample)


@lru_cache(maxsize=8192)
def _detect_sample(sample: str) -> tuple[str | None, float | None]:
    # ~55 µs per sample (half the normalizer's time). Cached: a project republished by another
    # partner, or updated without touching its title and text, is not detected twice. (The
    # benchmark's records are all distinct: it gains nothing from this.)
    values = _detector().compute_language_confidence_values(sample)
    if not values:
        return None, None
    best = values[0]
    if best.value < MIN_CONFIDENCE:
        return None, round(best.value, 3)
    return best.language.iso_code_639_1.name.lower(), round(best.value, 3)
