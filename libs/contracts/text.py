"""Text helpers written once for every service (pure; no I/O): accent folding, and the visible
text of HTML.

- :func:`fold` is the one accent folding: the search folds documents and queries with it, the
  geocoder builds its place-name keys on it.
- :func:`html_to_text` is the one HTML→text conversion for markup that must become plain text
  (crawled pages, feeds, mail bodies): lxml's parser, invisible elements dropped, optionally one
  line per block. Partner text that may *contain* markup is sanitised by the normalizer's
  ``clean_text`` (nh3, mojibake repair, escaped markup), which is a different job.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html
from unidecode import unidecode

_WS = re.compile(r"\s+")
INVISIBLE = ("script", "style", "noscript", "template")


class _FoldTable(dict):
    """Code point → its folded form ('É' → 'e', '!' → ' ', 'œ' → 'oe'), worked out on first sight
    with the definition's own steps (unidecode, lower case, alphanumerics kept)."""

    def __missing__(self, code: int) -> str:
        folded = "".join(c if c.isalnum() else " " for c in unidecode(chr(code)).lower())
        if code < _FOLD_CACHED_BELOW:  # bounded: hostile text full of rare code points cannot grow it
            self[code] = folded
        return folded


_FOLD_CACHED_BELOW = 0x3000  # Latin, Greek, Cyrillic, punctuation...: at most 12,288 entries
_FOLD_TABLE = _FoldTable()
_FOLD_ASCII = bytes(c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122) else 32 for c in range(256))
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_one(match: re.Match) -> str:
    return _FOLD_TABLE[ord(match.group())]


def fold(text: str) -> str:
    """Lower case, no accents, alphanumerics only: 'Zéro Déchet !' → 'zero dechet'.

    Part of the contract: the indexer folds documents and the gateway folds queries the same way.
    Other scripts are transliterated (``Москва`` → ``moskva``).

    Defined as ``" ".join(re.sub("[^a-z0-9]+", " ", unidecode(text).lower()).split())``; every
    step maps one code point independently of its neighbours, so it is computed as one table
    lookup per non-ASCII character (each worked out once) and a byte table for ASCII, about ten
    times faster on French text (``tests/unit/test_folding.py`` checks it against the definition
    on arbitrary Unicode).
    """
    if not text.isascii():
        text = _NON_ASCII.sub(_fold_one, text)
    return " ".join(text.encode("ascii").translate(_FOLD_ASCII).decode("ascii").split())


BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article", "main",
                    "header", "footer", "nav", "aside", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
                    "figure", "figcaption", "address", "form", "fieldset", "br", "hr", "td", "th"})
LABEL_CELLS = frozenset({"dt", "th"})
"""Cells that label the next one (``<dt>Commune</dt><dd>Ambert</dd>``): written ``Commune : Ambert``."""


def html_to_text(fragment: str | None, lines: bool = False, drop: tuple[str, ...] = ()) -> str | None:
    """Visible text of an HTML fragment, white space collapsed; markup is never passed downstream.

    ``lines``: one line per block element (paragraph, list item, table row, ``<br>``), a label
    cell (``dt``, ``th``) joined to its value as ``label : value`` — what "Label : value"
    extraction reads. ``drop``: elements removed with their content besides the invisible ones
    (``("blockquote",)`` leaves out the quoted message of an HTML mail reply).
    """
    if fragment is None:
        return None
    if "<" not in fragment and "&" not in fragment:
        return _lines(fragment) if lines else _WS.sub(" ", fragment).strip()
    try:
        doc = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # noqa: BLE001 — lxml raises several types on broken markup
        return _WS.sub(" ", re.sub(r"<[^>]*>", " ", fragment)).strip()
    return element_text(doc, lines, drop)


def element_text(element, lines: bool = False, drop: tuple[str, ...] = ()) -> str:
    """The text of a parsed lxml element (see ``html_to_text``)."""
    for bad in element.xpath("|".join(f".//{tag}" for tag in (*INVISIBLE, *drop))):
        bad.drop_tree()
    if not lines:
        return _WS.sub(" ", element.text_content()).strip()
    parts: list[str] = []

    def walk(node) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        block = tag in BLOCKS and tag not in ("td", "dd")  # a value cell stays on its label's line
        if block:
            parts.append("\n")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in LABEL_CELLS:
            parts.append(" : ")
        elif tag in ("td", "dd"):
            parts.append(" ")
        elif block:
            parts.append("\n")

    walk(element)
    return _lines("".join(parts))


def _lines(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = _WS.sub(" ", line).strip()
        line = re.sub(r"\s*:\s*:\s*", " : ", line).removesuffix(" :").rstrip()  # a label cell whose text already ends with a colon
        if line:
            out.append(line)
    return "\n".join(out)
