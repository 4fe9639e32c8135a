"""Messy French location strings → commune, département, région or country (pure, offline).

Partners write places in a hundred ways: "59100 Roubaix", "ROUBAIX (59)", "St-Etienne",
"Mans (Le)", "Paris XIe", "Lyon 3ème arrondissement", "Métropole Européenne de Lille",
"Département du Nord", "Région Hauts-de-France", "12 rue de la Gare, 51100 Reims",
"Bruxelles, Belgique", "Clermond-Ferrand" (typo)… :class:`Resolver` turns a string (plus the
partner's separate postcode, when it has one) into a :class:`Match` with a precision, a
confidence in [0, 1] and the method used. It never guesses silently: a homonym picked by
population, a fuzzy match, or a name that contradicts its postcode gets a low confidence.

Confidence scale (documented in docs/normalizer.md):

* 1.0 INSEE code; 0.98 name confirmed by its postcode; 0.95 unique exact name (0.97 when a
  département hint agrees); 0.9 arrondissement, EPCI name, département or région name;
* 0.85 postcode serving one commune; 0.6 postcode serving several (most populated kept,
  precision "postcode");
* homonyms: 0.4 + 0.5 × the chosen commune's share of the homonyms' population (≤ 0.9);
* fuzzy (typo) matches: rapidfuzz ratio / 100 × 0.85 (so ≤ 0.85), name found at the end of an
  address without postcode: 0.6;
* name and postcode contradicting each other: 0.3."""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import replace
from pathlib import Path

from rapidfuzz import fuzz, process

from services.geocoder.gazetteer import (
    DATA_DIR,
    Commune,
    Departement,
    Gazetteer,
    Region,
)
from services.geocoder.place_patterns import (  # noqa: F401 (Match, country_code... re-exported)
    ARR,
    ARR_CITY,
    CEDEX_TAIL,
    COUNTRY_CODES,
    DEP_CODE,
    DEP_HOMONYM_MIN_POP,
    DEP_IN_PARENS,
    DEP_PREFIXES,
    EPCI_TYPES,
    EPCI_WORD,
    FRANCE_NAMES,
    FUZZY_CUTOFF,
    FUZZY_CUTOFF_IN_POSTCODE,
    FUZZY_CUTOFF_WITH_HINT,
    INSEE_CORSICA,
    LAST_PARENS,
    LINKS,
    NAME_PREFIXES,
    NONE,
    OLD_REGIONS,
    OUTER_PARENS,
    POSTCODE,
    REG_PREFIXES,
    ROMAN,
    SEGMENTS,
    STOP_SUFFIX,
    TRAILING_DEP,
    Hints,
    Match,
    country_code,
    epci_keys,
    fold_place,
    homonym_confidence,
    strip_prefix,
)

__all__ = ["COUNTRY_CODES", "FRANCE_NAMES", "Match", "Resolver", "country_code"]


class Resolver:
    """Free-text location resolution on top of a :class:`Gazetteer` (plus its EPCI table)."""

    def __init__(self, gaz: Gazetteer, data_dir: str | Path | None = None) -> None:
        self.gaz = gaz
        d = Path(data_dir) if data_dir is not None else DATA_DIR
        self._deps_by_name: dict[str, Departement] = {}
        for dep in gaz.departements():
            key = fold_place(dep.name)
            self._deps_by_name[key] = dep
        self._regs_by_name: dict[str, Region] = {fold_place(r.name): r for r in gaz.regions()}
        for alias, code in OLD_REGIONS.items():
            reg = gaz.region(code)
            if reg is not None:
                self._regs_by_name.setdefault(alias, reg)
        self._epci: dict[str, tuple[str, str]] = {}  # folded name or core → (seat code, EPCI name)
        epci_file = d / "epci.csv"
        if epci_file.exists():
            with open(epci_file, encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    for key in epci_keys(row["name"]):
                        self._epci.setdefault(key, (row["seat"], row["name"]))
        # Fuzzy matching: one list of distinct name keys, and per département.
        names: dict[str, list[Commune]] = {}
        for c in gaz:
            if c.kind == "COM":
                names.setdefault(fold_place(c.name), []).append(c)
        self._names = list(names)
        self._names_by_dep: dict[str, list[str]] = {}
        for key, cs in names.items():
            for dep in {c.departement for c in cs}:
                self._names_by_dep.setdefault(dep, []).append(key)
        self._arr: dict[tuple[str, int], Commune] = {}
        for c in gaz:
            if c.kind == "ARM" and c.parent:
                num = re.search(r"([0-9]+)", c.name)
                if num:
                    self._arr[(c.parent, int(num.group(1)))] = c
        self._cache = functools.lru_cache(maxsize=20_000)(self._resolve_uncached)
        self._communes_named = functools.lru_cache(maxsize=50_000)(self._communes_named_uncached)
        """folded name → the communes (not arrondissements) of that name: asked by several steps
        of one resolution, and again for every record in the same town"""

    def _communes_named_uncached(self, key: str) -> tuple[Commune, ...]:
        return tuple(c for c in self.gaz.by_name(key) if c.kind == "COM")

    # ------------------------------------------------------------------ public API

    def resolve(self, text: str | None, postcode: str | None = None) -> Match:
        """Best match for a location string and an optional separate postcode."""
        return self._cache((text or "").strip()[:300], (postcode or "").strip()[:12])

    # ------------------------------------------------------------------ internals

    def _resolve_uncached(self, text: str, postcode: str) -> Match:
        hints = Hints()
        pc = self._valid_postcode(postcode)
        raw = text
        # INSEE codes for Corsica look like "2A004"; five digits may be a postcode or an INSEE code.
        m = INSEE_CORSICA.search(raw)
        if m and not pc:
            c = self.gaz.by_code(m.group(1))
            if c is not None:
                return self._commune(c, None, 1.0, "insee")
        found_codes = [p.replace(" ", "").replace(".", "") for p in POSTCODE.findall(raw)]
        given = postcode if postcode.isdigit() else "".join(ch for ch in postcode if ch.isdigit())
        if given and not pc:
            found_codes.insert(0, given.zfill(5) if len(given) == 4 else given)
        if "insee" in raw.casefold():
            for code in found_codes:
                c = self.gaz.by_code(code)
                if c is not None:
                    return self._commune(c, pc, 1.0, "insee")
        if not pc:
            for code in found_codes:
                pc = self._valid_postcode(code)
                if pc:
                    break
            else:
                # Not a postcode: maybe an INSEE code ("97606"), or a CEDEX/unknown postcode.
                for code in found_codes:
                    c = self.gaz.by_code(code)
                    if c is not None and fold_place(POSTCODE.sub(" ", raw)) in ("", "code insee", "insee"):
                        return self._commune(c, None, 1.0, "insee")
                    if c is not None and (
                        not fold_place(POSTCODE.sub(" ", raw))
                        or self._name_matches(POSTCODE.sub(" ", raw), c)
                    ):
                        return self._commune(c, None, 1.0, "insee")
                for code in found_codes:
                    deps = self.gaz.departements_for_postcode(code)
                    if deps:
                        hints.postcode_departements = deps
                        hints.postcode = code
                        break
        if pc:
            hints.postcode = pc
            hints.postcode_departements = self.gaz.departements_for_postcode(pc)
        dm = DEP_IN_PARENS.search(raw)
        if dm and self.gaz.departement(dm.group(1)) is not None:
            hints.departements = frozenset({self.gaz.departement(dm.group(1)).code})
        body = DEP_IN_PARENS.sub(" ", POSTCODE.sub(" ", raw))

        # Country: a foreign country as the whole string or its last segment means abroad.
        segments = [s for s in SEGMENTS.split(body) if fold_place(s)]
        if segments:
            last = fold_place(segments[-1])
            last = OUTER_PARENS.sub(r"\1", last)
            paren = LAST_PARENS.search(segments[-1])
            for cand in (last, fold_place(paren.group(1)) if paren else None):
                if cand and cand in COUNTRY_CODES and cand not in self._deps_by_name:
                    return Match(country=COUNTRY_CODES[cand], precision="country", confidence=0.9, method="abroad")
            while segments and fold_place(segments[-1]) in ("france", "fr", "france metropolitaine", "metropole"):
                segments.pop()

        # Arrondissements of Paris, Lyon, Marseille.
        key_all = fold_place(body)
        am = ARR.search(key_all)
        if am:
            city = am.group(1) or am.group(4)
            num_s = am.group(2) or am.group(3)
            num = int(num_s) if num_s.isdigit() else ROMAN.get(num_s)
            parent, top = ARR_CITY[city]
            if num and 1 <= num <= top:
                arm = self._arr.get((parent, num))
                if arm is not None:
                    conf = 0.9 if not pc or pc in arm.postcodes else 0.5
                    return self._commune(arm, pc, conf, "arrondissement")

        # Segment by segment, the last ones first (addresses end with the commune).
        area: Match | None = None
        names: list[str] = []  # segments that are not an area name, last first
        for seg in reversed(segments):
            key = fold_place(seg)
            if not key:
                continue
            r = self._area(key, hints)
            if r is not None and r.commune is not None:  # an intercommunality: its seat
                return r
            if r is not None:
                if r.departement is not None and r.precision == "departement":
                    hints.departements = hints.departements | {r.departement.code}
                elif r.region is not None and r.precision == "region":
                    hints.region = r.region.code
                if area is None or (area.precision == "region" and r.precision == "departement"):
                    area = r
                continue
            names.append(seg)
            m = self._name(seg, key, hints)
            if m is not None and "conflicts" in m.method:
                # "44130 Blan": a typo of a commune of that postcode (Blain) beats a homonym elsewhere.
                typo = self._fuzzy(self._clean_key(key), hints, within_hints_only=True)
                if typo is not None:
                    return typo
            if m is not None:
                return self._conflicts(m, hints, area)
        # Nothing found by exact names: typos (whole segment), then a name inside a longer string.
        for seg in names:
            key = self._clean_key(fold_place(seg))
            if key and not any(ch.isdigit() for ch in key):
                m = self._fuzzy(key, hints)
                if m is not None:
                    return self._conflicts(m, hints, area)
        for seg in names:
            m = self._embedded(fold_place(seg), hints)
            if m is not None:
                return self._conflicts(m, hints, area)
        # A postcode alone.
        if hints.postcode:
            m = self._by_postcode(hints.postcode)
            if m is not None:
                return m
        if area is not None:
            return area
        if len(hints.postcode_departements) == 1:
            dep = self.gaz.departement(next(iter(hints.postcode_departements)))
            if dep is not None:
                return Match(departement=dep, postcode=hints.postcode, precision="departement",
                             confidence=0.7, method="postcode-prefix")
        if hints.departements:
            dep = self.gaz.departement(next(iter(hints.departements)))
            return Match(departement=dep, precision="departement", confidence=0.8, method="departement")
        return NONE

    def _valid_postcode(self, s: str | None) -> str | None:
        if not s:
            return None
        p = s if s.isdigit() else "".join(ch for ch in s if ch.isdigit())
        if len(p) == 4:
            p = "0" + p
        return p if len(p) == 5 and self.gaz.has_postcode(p) else None

    def _commune(self, c: Commune, postcode: str | None, confidence: float, method: str) -> Match:
        return Match(commune=c, postcode=postcode if postcode and postcode in c.postcodes else None,
                     precision="commune", confidence=round(confidence, 3), method=method)

    def _name_matches(self, text: str, c: Commune) -> bool:
        return fold_place(text) == fold_place(c.name) or c in self.gaz.by_name(text)

    def _by_postcode(self, pc: str) -> Match | None:
        cands = [c for c in self.gaz.by_postcode(pc) if c.kind == "COM"]
        if not cands:
            return None
        if len(cands) == 1:
            return self._commune(cands[0], pc, 0.85, "postcode")
        # Paris, Lyon, Marseille: the postcode designates one arrondissement of the big commune.
        return replace(self._commune(cands[0], pc, 0.6, "postcode"), precision="postcode")

    def _area(self, key: str, hints: Hints | None = None) -> Match | None:
        """A département, région or intercommunality named by the whole segment."""
        dkey = strip_prefix(key, DEP_PREFIXES)
        rkey = strip_prefix(key, REG_PREFIXES)
        explicit_dep = dkey != key
        explicit_reg = rkey != key
        if DEP_CODE.fullmatch(key):
            dep = self.gaz.departement(key)
            if dep is not None:
                return Match(departement=dep, precision="departement", confidence=0.8, method="departement-code")
        dep = self._deps_by_name.get(dkey)
        if dep is None and dkey.split(" ", 1)[0] in LINKS:
            dep = self._deps_by_name.get(dkey.split(" ", 1)[1] if " " in dkey else dkey)
        reg = self._regs_by_name.get(rkey)
        if reg is None and rkey.split(" ", 1)[0] in LINKS and " " in rkey:
            reg = self._regs_by_name.get(rkey.split(" ", 1)[1])
        homonyms = self._communes_named(key) if not (explicit_dep or explicit_reg) else ()
        big = homonyms and homonyms[0].population >= DEP_HOMONYM_MIN_POP
        if homonyms and hints is not None:
            # "Saint-Martin (67)", "Vienne 38200": the hints designate one of the homonym communes.
            deps = hints.departements | hints.postcode_departements
            if any(c.departement in deps or (hints.postcode and hints.postcode in c.postcodes) for c in homonyms):
                return None
        if dep is not None and (explicit_dep or not big) and not explicit_reg:
            conf = 0.9 if explicit_dep or not homonyms else 0.6
            return Match(departement=dep, precision="departement", confidence=conf,
                         method="departement" + ("; a commune has the same name" if homonyms and not explicit_dep else ""))
        if reg is not None and (explicit_reg or not big) and reg.lat is not None:
            conf = 0.9 if explicit_reg or not homonyms else 0.6
            return Match(region=reg, precision="region", confidence=conf,
                         method="region" + ("; a commune has the same name" if homonyms and not explicit_reg else ""))
        epci = self._epci.get(key)
        if epci is None and EPCI_WORD.search(key):
            # "Communauté urbaine du Grand Reims", "Grand Reims Métropole": matched on the core name,
            # only when the string says it is an intercommunality ("Le Mans" stays the commune).
            core = next(iter(k for k in epci_keys(key) if k.startswith("epci:")), None)
            if core is not None:
                epci = self._epci.get(core)
        if epci is not None:
            seat = self.gaz.by_code(epci[0])
            if seat is not None:
                return replace(self._commune(seat, None, 0.9, "epci-seat"), method=f"epci-seat ({epci[1]})")
        return None

    @staticmethod
    def _clean_key(key: str) -> str:
        key = strip_prefix(key, NAME_PREFIXES)
        key = CEDEX_TAIL.sub("", key).strip()
        tm = TRAILING_DEP.match(key)
        if tm:
            key = tm.group(1).strip()
        return key

    def _name(self, seg: str, key: str, hints: Hints) -> Match | None:
        """Exact (normalised) commune name, disambiguated by postcode, département hints, population."""
        key = self._clean_key(key)
        tm = TRAILING_DEP.match(fold_place(seg))
        if tm and self.gaz.departement(tm.group(2)) is not None:
            hints.departements = hints.departements | {self.gaz.departement(tm.group(2)).code}
        if not key:
            return None
        if key.startswith("code insee "):
            return None
        cands = self._communes_named(key)
        if not cands:
            return None
        return self._choose(cands, hints, 1.0, "commune")

    def _choose(self, cands: list[Commune] | tuple[Commune, ...], hints: Hints, scale: float, method: str) -> Match:
        pc = hints.postcode
        if pc:
            with_pc = [c for c in cands if pc in c.postcodes]
            if with_pc:
                conf = 0.98 if len(with_pc) == 1 else homonym_confidence(with_pc)
                return self._commune(with_pc[0], pc, conf * scale, f"{method}+postcode")
        deps = hints.departements or hints.postcode_departements
        if deps:
            in_dep = [c for c in cands if c.departement in deps]
            if in_dep:
                conf = 0.97 if len(in_dep) == 1 else homonym_confidence(in_dep)
                return self._commune(in_dep[0], pc, conf * scale, method + ("+postcode-departement" if pc else "+departement"))
        if hints.region:
            in_reg = [c for c in cands if c.region == hints.region]
            if in_reg:
                conf = 0.96 if len(in_reg) == 1 else homonym_confidence(in_reg)
                return self._commune(in_reg[0], pc, conf * scale, method + "+region")
        if pc or deps:  # the name contradicts the partner's postcode / département: say so
            return replace(self._commune(cands[0], pc, 0.3, method), method=f"{method}; conflicts with postcode/departement")
        if len(cands) == 1:
            return self._commune(cands[0], None, 0.95 * scale, method)
        return self._commune(cands[0], None, homonym_confidence(cands) * scale, f"{method}-ambiguous")

    def _conflicts(self, m: Match, hints: Hints, area: Match | None) -> Match:
        """A commune found by name when the postcode points elsewhere: prefer the postcode's commune
        if the name is unsure, and keep the confidence low either way."""
        if m.commune is not None and "conflicts" in m.method and hints.postcode:
            by_pc = self._by_postcode(hints.postcode)
            if by_pc is not None and len(self.gaz.by_name(m.commune.name)) != 1:
                return replace(by_pc, confidence=0.3, method="postcode; commune name conflicts")
        return m

    def _embedded(self, key: str, hints: Hints) -> Match | None:
        """A commune name at the end (or start) of a longer segment: "12 rue de la gare roubaix"."""
        words = key.split()
        if len(words) < 2:
            return None
        for n in range(min(6, len(words) - 1), 0, -1):
            for part in (words[-n:], words[:n]):
                if part[0] in STOP_SUFFIX or part[0] in LINKS or (len(part) == 1 and len(part[0]) < 4):
                    continue
                if part is words[:n] and not (hints.postcode or hints.departements):
                    continue
                sub = " ".join(part)
                if any(ch.isdigit() for ch in sub):
                    continue
                cands = self._communes_named(sub)
                if cands:
                    m = self._choose(cands, hints, 1.0, "commune-in-text")
                    if "conflicts" in m.method:
                        continue
                    if not (hints.postcode or hints.departements):
                        m = replace(m, confidence=min(m.confidence, 0.6))
                    return m
        return None

    def _fuzzy(self, key: str, hints: Hints, within_hints_only: bool = False) -> Match | None:
        if len(key) < 3:
            return None
        if hints.postcode:
            # The few communes of the postcode: a looser cutoff is safe ("08110 Puer" → Pure).
            local = {fold_place(c.name): c for c in self.gaz.by_postcode(hints.postcode) if c.kind == "COM"}
            best = process.extractOne(key, list(local), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF_IN_POSTCODE)
            if best is not None:
                return self._choose([local[best[0]]], hints, best[1] / 100 * 0.85, "fuzzy")
        if within_hints_only or len(key) < 4:
            return None
        deps = hints.departements or hints.postcode_departements
        if deps:
            choices = [k for d in deps for k in self._names_by_dep.get(d, ())]
        else:
            choices = self._names
        cutoff = FUZZY_CUTOFF_WITH_HINT if deps else FUZZY_CUTOFF
        res = process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=5)
        if not res:
            return None
        best_score = res[0][1]
        # Among near-ties, the most populated commune.
        tied = [r for r in res if r[1] >= best_score - 2]
        pool = []
        for name, score, _ in tied:
            pool.extend((score, c) for c in self.gaz.by_name(name) if c.kind == "COM")
        if not pool:
            return None
        if deps:
            pool = [p for p in pool if p[1].departement in deps] or pool
        pool.sort(key=lambda p: (-p[1].population, -p[0]))
        score, c = pool[0]
        m = self._choose([c], hints, score / 100 * 0.85, "fuzzy")
        if len(pool) > 1:
            m = replace(m, confidence=min(m.confidence, 0.6))
        return m
