"""Places named only in a record's free text (title, description): pure, offline, cautious.

Used when the record has no location field. A place name is a run of capitalised words (with
their linking words: ``Saint-Aubin-du-Cormier``, ``Le Puy-en-Velay``) that is exactly the name of
a commune in the gazetteer, and that the text presents as a place:

- in the title, followed by a département number: ``Saint-Aubin (35) : une épicerie…``;
- heading the title: ``Hazebrouck : des paniers…``;
- after a locative word (``à``, ``au``, ``de``, ``du``, ``en``, ``sur``…): ``…le CCAS de Montreuil
  a lancé…``, ``À Redon, …``.

A capitalised word that is not in such a position (``Bonne nouvelle``, ``Grand succès``) is never
taken for a commune, nor a name that the same text also uses as a common word. Département hints
— a number in parentheses, a postcode, or a département named after ``dans le/la/l'``, ``en``… —
restrict homonyms; a name with no commune in the hinted départements is not located. Homonyms
without a hint keep the most populated commune with the resolver's homonym confidence. When the
text names several different communes, the record stays unlocated rather than wrongly located.
Confidences are the resolver's, scaled down (title: ×0.85, text: ×0.7), and a match under
``MIN_CONFIDENCE`` is dropped.
"""

from __future__ import annotations

import functools
import re

from services.geocoder.gazetteer import Commune, normalize_name
from services.geocoder.place_patterns import homonym_confidence
from services.geocoder.resolver import Match, Resolver

TITLE_SCALE = 0.85
TEXT_SCALE = 0.7
MIN_CONFIDENCE = 0.5
"""Below this (e.g. a homonym without a hint whose communes are of similar size), no location."""

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’]*"
_LINK = r"(?:de|du|des|la|le|les|sur|sous|en|lès|lez|aux|au|et|d'|d’|l'|l’)"
NAME = re.compile(rf"{_CAP}(?:(?:-|\s)(?:{_LINK}(?:-|\s)?)*{_CAP})*")
_CUE = re.compile(r"(?:^|[\s(])(?P<cue>à|À|au|Au|aux|Aux|de|d'|d’|du|des|en|En|sur|vers|près de)\s*$")
_ARTICLE_OF_CUE = {"au": "Le ", "du": "Le ", "aux": "Les ", "des": "Les "}
_DEP_NUMBER = re.compile(r"\(\s*(\d{2,3}|2[AB])\s*\)")
_POSTCODE = re.compile(r"(?<!\d)(\d{5})(?!\d)")
_TITLE_HEAD = re.compile(r"^\s*(?P<head>[^:–—]{2,60}?)\s*(?:\(\s*(?:\d{2,3}|2[AB])\s*\))?\s*[:–—]\s")


def _subruns(run: str) -> list[tuple[str, int]]:
    """A capitalised run and its tails at word boundaries (``Le CCAS de Montreuil`` → … ``Montreuil``),
    with each tail's offset in the run."""
    out = []
    words = [(m.group(0), m.start()) for m in re.finditer(r"\S+", run)]
    for word, offset in words:
        if re.match(_CAP, word):
            out.append((run[offset:], offset))
    return out


class FreeText:
    def __init__(self, resolver: Resolver):
        self.r = resolver
        self.gaz = resolver.gaz
        self._dep_patterns = [
            (d.code, re.compile(r"(?:[Dd]ans (?:le |la |les |l'|l’)|[Ee]n |de l'|de l’|du |de la |des )"
                                + re.escape(d.name).replace(r"\-", r"[-\s]").replace(r"\ ", r"[-\s]") + r"\b"))
            for d in self.gaz.departements()
        ]

    def hints(self, text: str) -> set[str]:
        deps = {m.group(1).upper().zfill(2) for m in _DEP_NUMBER.finditer(text)}
        for m in _POSTCODE.finditer(text):
            deps |= set(self.gaz.departements_for_postcode(m.group(1)))
        deps |= {code for code, pattern in self._dep_patterns if pattern.search(text)}
        return deps

    def _communes(self, name: str, deps: set[str]) -> tuple[Commune, ...]:
        found = tuple(c for c in self.gaz.by_name(name) if c.kind == "COM")
        return tuple(c for c in found if c.departement in deps) if deps else found

    def _match(self, name: str, deps: set[str], scale: float, method: str, text: str) -> Match | None:
        if " " not in normalize_name(name) and _common_word(name, text):
            return None
        cands = self._communes(name, deps)
        if not cands:
            return None
        conf = (0.95 if len(cands) == 1 else homonym_confidence(cands)) * scale
        if conf < MIN_CONFIDENCE:
            return None
        return Match(commune=cands[0], precision="commune", confidence=round(conf, 3), method=method)

    def in_title(self, title: str, deps: set[str]) -> list[Match]:
        found: list[Match] = []
        for m in _DEP_NUMBER.finditer(title):  # "Name (NN)": the run just before the parentheses
            dep = {m.group(1).upper().zfill(2)}
            before = title[:m.start()].rstrip()
            for r in (r for r in NAME.finditer(before) if r.end() == len(before)):
                for tail, _ in _subruns(r.group(0)):
                    hit = self._match(tail, dep, TITLE_SCALE, "text:title (NN)", title)
                    if hit:
                        found.append(hit)
                        break
        if found:
            return found
        head = _TITLE_HEAD.match(title)
        if head and NAME.fullmatch(head.group("head").strip()):
            hit = self._match(head.group("head").strip(), deps, TITLE_SCALE, "text:title head", title)
            if hit:
                return [hit]
        return self.after_cues(title, deps, TITLE_SCALE, "text:title")

    def after_cues(self, text: str, deps: set[str], scale: float, method: str) -> list[Match]:
        found = []
        for run in NAME.finditer(text):
            for tail, offset in _subruns(run.group(0)):
                start = run.start() + offset
                cue = _CUE.search(text[max(0, start - 12):start])
                if not cue:
                    continue
                article = _ARTICLE_OF_CUE.get(cue.group("cue").lower(), "")
                hit = (self._match(article + tail, deps, scale, method, text) if article else None) or \
                    self._match(tail, deps, scale, method, text)
                if hit:
                    found.append(hit)
                    break
        return found


def _common_word(name: str, text: str) -> bool:
    """The one-word name also appears in the text in lower case: a common word there (``bonne``)."""
    word = name.lower()
    return word != name and re.search(rf"(?<![\w'’-]){re.escape(word)}(?![\w'’-])", text) is not None


@functools.lru_cache(maxsize=4)
def _finder(resolver: Resolver) -> FreeText:
    return FreeText(resolver)


def _one(matches: list[Match]) -> Match | None:
    codes = {m.commune.code for m in matches}
    return matches[0] if len(codes) == 1 else None


def locate(resolver: Resolver, title: str | None, text: str | None) -> Match | None:
    """The commune the title (first) or the text names, if exactly one; None otherwise."""
    f = _finder(resolver)
    title, text = title or "", text or ""
    deps = f.hints(f"{title}\n{text}")
    titled = f.in_title(title, deps)
    if titled:
        return _one(titled)
    return _one(f.after_cues(text, deps, TEXT_SCALE, "text"))
