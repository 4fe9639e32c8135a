"""Generated hostile inputs for the campaign, each with what the platform must do with it.

Seeded and pure (no I/O): the same seed gives the same campaign. Kinds:
- ``kafka_bad``: bytes for ``partner.ingest.v1`` that must be dead-lettered exactly once;
- ``kafka_good`` / ``http_good``: records (some with script, SQL or template injection in their
  text, which is data, not code) that must become searchable exactly once;
- ``http``: a request with the statuses it may get (never a 5xx);
- ``bulk``: one bulk push mixing good and bad lines.
Good and bad Kafka messages share a few keys, so a bad message sits on the same partition in
front of good ones.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import orjson

PARTNER = "campagne"
KEYS = [f"{PARTNER}:shared-{i}" for i in range(6)]
INJECTIONS = ["<script>alert('xss')</script>", "\"><img src=x onerror=alert(1)>", "'; DROP TABLE projects; --",
              "{{7*7}}", "${jndi:ldap://exemple.invalid/a}", "../../etc/passwd", "%00%0d%0aSet-Cookie: a=b",
              "javascript:alert(1)", "<svg/onload=alert(1)>", "' OR '1'='1", "\u202eevil", "𝓤𝓷𝓲𝓬𝓸𝓭𝓮 😀"]
WORDS = ["jardin", "partagé", "épicerie", "solidaire", "ressourcerie", "fablab", "mobile", "covoiturage", "atelier", "vélo", "grainothèque", "tiers-lieu", "cantine", "insertion", "numérique", "habitat", "inclusif", "recyclerie", "café", "associatif", "bricothèque", "laverie", "repair", "boutique", "friperie", "maraîchage"]
TOWNS = [("Reims", "51100"), ("Roubaix", "59100"), ("Brest", "29200"), ("Dijon", "21000"), ("Tulle", "19000"),
         ("Angers", "49000"), ("Lyon", "69007"), ("Chirongui", "97620")]
CONTROL = "".join(chr(c) for c in (0, 1, 7, 8, 11, 12, 27, 127))
_TEXT_BAD = [CONTROL + "texte", ["liste"], {"objet": 1}, 1e30, True]
INVALID: dict[str, list] = {  # every field of the partner contract, with values it must refuse
    "source_record_id": ["", "x" * 201, *_TEXT_BAD],
    "url": ["javascript:alert(1)", "ftp://exemple.org/a", "http://user:pw@exemple.org", "https://", "http://a b.fr",
            "https://exemple.org/" + "x" * 2048, None],
    "title": ["", "x" * 301, "x" * 100_001, None, *_TEXT_BAD],
    "description": ["x" * 20_001, *_TEXT_BAD],
    "address": ["x" * 301, *_TEXT_BAD],
    "commune": ["x" * 121, *_TEXT_BAD],
    "postcode": ["<script>", "123456789012", "", *_TEXT_BAD[1:]],
    "country": ["x" * 61, *_TEXT_BAD],
    "stage": ["x" * 101, *_TEXT_BAD],
    "themes": [["t"] * 31, "texte", [CONTROL], [{"a": 1}], {"a": 1}],
    "engineering": [["t"] * 11, "texte", [CONTROL]],
    "holder": ["texte", {"name": "x" * 201}, {"inconnu": 1}, [1]],
    "contact": ["texte", {"email": "pas-un-email"}, {"phone": "<script>"}, {"website": "javascript:x"},
                {"inconnu": 1}],
    "published_at": ["pas une date", "2026-13-45", 10**12, [2026]],
    "latlon": [(91, 2), (45, 181), (-91, 0), ("NaN", 1), (45, None), ("x", "y")],
    "unknown": ["<script>alert(1)</script>"],
}


@dataclass
class Item:
    kind: str
    body: bytes = b""
    key: str | None = None
    record_id: str | None = None
    method: str = "GET"
    path: str = ""
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    allowed: frozenset[int] = frozenset()
    good_ids: list[str] = field(default_factory=list)
    bad_lines: int = 0


class Campaign:
    def __init__(self, seed: int, api_key: str):
        self.rng = random.Random(seed)
        self.api_key = api_key
        self.n = 0

    # ------------------------------------------------------------------ records

    def record(self, hostile_text: bool = False) -> dict:
        self.n += 1
        rng = self.rng
        town, postcode = rng.choice(TOWNS)
        words = " ".join(rng.sample(WORDS, 3))
        unique = "".join(rng.choices(string.ascii_lowercase, k=8))
        title = f"{words.capitalize()} {unique} n°{self.n}"
        description = f"Un projet de {words} à {town}, porté par des habitants ({unique})."
        if hostile_text:
            title = f"{title} {rng.choice(INJECTIONS)}"[:300]
            description += " " + " ".join(rng.sample(INJECTIONS, 3))
        return {"source": PARTNER, "source_record_id": f"rec-{self.n}-{unique}", "url": f"https://exemple.org/{unique}",
                "title": title, "description": description, "commune": town, "postcode": postcode,
                "themes": [rng.choice(["Alimentation", "Mobilité", "Numérique", "Habitat"])]}

    @staticmethod
    def event(record: dict) -> bytes:
        return orjson.dumps({"schema_version": 1, "op": "upsert", "source": record["source"],
                             "source_record_id": record["source_record_id"], "record": record})

    def broken_record(self) -> tuple[dict, str]:
        """A record with one field made invalid under the partner contract, and the field's name."""
        rng = self.rng
        record = self.record()
        name = rng.choice(sorted(INVALID))
        value = rng.choice(INVALID[name])
        if name == "latlon":
            record["lat"], record["lon"] = value
        else:
            record[name] = value
        return record, name

    # ------------------------------------------------------------------ kafka

    def kafka_bad(self) -> Item:
        rng = self.rng
        choice = rng.randrange(9)
        if choice == 0:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        elif choice == 1:
            size = rng.choice([65_535, 65_537, 99_999, 100_001, 150_000, 300_000])
            body = (b"\x01<not json>" * (size // 11 + 1))[:size]
        elif choice == 2:
            body = b'{"schema_version":1,"op":"upsert","source":"campagne","title":"\xff\xfe\xfd"}'
        elif choice == 3:
            body = orjson.dumps(rng.choice([[1, 2], 3, None, "texte", [], True]))
        elif choice == 4:
            depth = rng.choice([100, 1_000, 5_000])
            body = b"[" * depth + b"]" * depth
        elif choice == 5:
            record, _ = self.broken_record()
            body = orjson.dumps({"schema_version": 1, "op": "upsert", "source": PARTNER,
                                 "source_record_id": str(record.get("source_record_id"))[:200], "record": record},
                                default=str)
        elif choice == 6:
            record = self.record()
            body = orjson.dumps({"schema_version": 2, "op": "upsert", "source": PARTNER,
                                 "source_record_id": record["source_record_id"], "record": record})
        elif choice == 7:
            record = self.record()
            record["unknown_field"] = "<script>alert(1)</script>"
            body = self.event(record)
        else:
            record = self.record()
            body = self.event(record)[:-rng.randint(1, 40)]  # cut short
        return Item("kafka_bad", body=body, key=rng.choice(KEYS))

    def kafka_good(self) -> Item:
        record = self.record(hostile_text=self.rng.random() < 0.3)
        return Item("kafka_good", body=self.event(record), key=self.rng.choice(KEYS),
                    record_id=record["source_record_id"])

    # ------------------------------------------------------------------ http

    def _auth(self, ctype: str = "application/json") -> dict[str, str]:
        return {"X-API-Key": self.api_key, "content-type": ctype}

    def http_ingest(self) -> Item:
        rng = self.rng
        choice = rng.randrange(12)
        bad = frozenset({400, 413, 415, 422})
        if choice <= 2:  # a good record, perhaps with injection in its text
            record = self.record(hostile_text=choice == 0)
            return Item("http_good", method="POST", path="/api/v1/ingest", body=orjson.dumps({"records": [record]}),
                        headers=self._auth(), allowed=frozenset({202}), record_id=record["source_record_id"])
        if choice == 3:
            record, _ = self.broken_record()
            body = orjson.dumps({"records": [record]}, default=str)
        elif choice == 4:
            body = rng.choice([b"{oops", b"", b"\xff\xfe{}", b"null", b"[]", b'{"records": "x"}'])
        elif choice == 5:
            depth = rng.choice([33, 1_000, 50_000])
            body = b'{"records":' + b"[" * depth + b"]" * depth + b"}"
        elif choice == 6:
            body = orjson.dumps({"records": [self.record() for _ in range(501)]})
        elif choice == 7:  # the 2 MiB body limit: at it, one past it, far beyond it (now and then)
            size = rng.choice([2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 8 * 1024 * 1024]) if rng.random() < 0.15 \
                else rng.randint(100, 5_000)
            body = (b'{"records":["' + b"x" * size)[:size] + b'"]}'
        elif choice == 8:
            record = {**self.record(), "source": "avise"}
            return Item("http", method="POST", path="/api/v1/ingest", body=orjson.dumps({"records": [record]}),
                        headers=self._auth(), allowed=frozenset({403}))
        elif choice == 9:
            headers = rng.choice([{"X-API-Key": "wrong-" + "k" * rng.choice([10, 300])}, {}])
            return Item("http", method="POST", path="/api/v1/ingest", body=orjson.dumps({"records": [self.record()]}),
                        headers={**headers, "content-type": "application/json"}, allowed=frozenset({401}))
        elif choice == 10:
            body = orjson.dumps({"records": [self.record()], "correlation_id": "<script>" * 3})
        else:
            body = orjson.dumps({"records": [self.record()], "deletions": [{"source": PARTNER}]})
        return Item("http", method="POST", path="/api/v1/ingest", body=body, headers=self._auth(), allowed=bad)

    def bulk(self, lines: int = 20) -> Item:
        rng = self.rng
        good_ids, bad, out = [], 0, []
        for _ in range(lines):
            roll = rng.random()
            if roll < 0.5:
                record = self.record(hostile_text=rng.random() < 0.3)
                good_ids.append(record["source_record_id"])
                out.append(orjson.dumps(record))
            elif roll < 0.75:
                record, _ = self.broken_record()
                out.append(orjson.dumps(record, default=str))
                bad += 1
            else:
                out.append(rng.choice([b"{oops", b"\xff\xfe", b"[1]", b'{"source": "avise"}',
                                       b'{"a":' * 40 + b"1" + b"}" * 40, b"x" * 150_000]))
                bad += 1
        return Item("bulk", method="POST", path="/api/v1/ingest/bulk", body=b"\n".join(out),
                    headers=self._auth("application/x-ndjson"), allowed=frozenset({202, 400}),
                    good_ids=good_ids, bad_lines=bad)

    def http_read(self) -> Item:
        rng = self.rng
        path = rng.choice(["/api/v1/search", "/", "/api/v1/map", "/api/v1/export", "/api/v1/suggest",
                           "/api/v1/stats", "/projets/" + rng.choice(["..%2F..%2Fetc", "x" * 500, "<script>", "1"])])
        values = [rng.choice(INJECTIONS), "x" * rng.choice([200, 201, 10_000]), CONTROL, "-1", "0", str(10**12),
                  "1e400", "NaN", "-91", "181", "1,2,3", "2,48,3,49", "relevance", "nearest", "", "\u200b"]
        names = ["q", "theme", "stage", "source", "region", "departement", "commune", "lat", "lon", "radius_km",
                 "bbox", "sort", "page", "per_page", "zoom", "format", "limit", "unknown"]
        params = [(rng.choice(names), rng.choice(values)) for _ in range(rng.randint(0, 5))]
        if path == "/api/v1/export":
            params.append(("limit", "50"))
        return Item("http", path=path, params=params, allowed=frozenset({200, 304, 400, 404, 413, 414, 422, 429}))

    # ------------------------------------------------------------------ mix

    def items(self, total: int) -> list[Item]:
        """About ``total`` inputs (bulk lines count one each): a third on the topic, the rest over HTTP."""
        out: list[Item] = []
        count = 0
        while count < total:
            roll = self.rng.random()
            item = (self.kafka_bad() if roll < 0.25 else self.kafka_good() if roll < 0.35 else
                    self.http_ingest() if roll < 0.6 else self.bulk() if roll < 0.65 else self.http_read())
            out.append(item)
            count += 20 if item.kind == "bulk" else 1
        return out
