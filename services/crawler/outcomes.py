"""What became of every item a crawl read: emitted, skipped (not a project, with the rule) or
rejected (invalid, with the reason). Pure bookkeeping, shown by ``crawler preview``, stored with
each run (counts by rule/reason and the first reasons) and served by the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_REASONS = 20
"""Reasons kept per run, in the order met (the counts cover every item)."""
MAX_OUTCOMES = 10_000
"""Outcomes kept in memory per run for the preview (the counts cover every item)."""


@dataclass(frozen=True)
class Outcome:
    url: str
    verdict: str
    """``emitted``, ``skipped`` or ``rejected``."""
    rule: str | None = None
    """For a skip: the rule (``news``, ``listing``, ``too_short``...); for a reject: ``invalid``;
    for an emitted item: ``warning`` when part of it could not be read."""
    reason: str | None = None
    record_id: str | None = None
    title: str | None = None

    def line(self) -> str:
        what = self.title or self.record_id or ""
        return f"{self.verdict} [{self.rule}] {self.url} {what!r}: {self.reason}" if self.rule \
            else f"{self.verdict} {self.url} {what!r}"


@dataclass
class Ledger:
    items: int = 0
    projects: int = 0
    excluded: int = 0
    rejected: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    first_reasons: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.items += 1
        if len(self.outcomes) < MAX_OUTCOMES:
            self.outcomes.append(outcome)
        if outcome.verdict == "emitted":
            self.projects += 1
            if outcome.rule:  # emitted with a warning (part of the item could not be read)
                self._reason(outcome)
            return
        if outcome.verdict == "skipped":
            self.excluded += 1
        else:
            self.rejected += 1
        self._reason(outcome)

    def _reason(self, outcome: Outcome) -> None:
        key = f"{outcome.verdict}:{outcome.rule}"
        self.by_rule[key] = self.by_rule.get(key, 0) + 1
        if len(self.first_reasons) < FIRST_REASONS:
            self.first_reasons.append(outcome.line()[:400])

    def reject_share(self) -> float:
        return self.rejected / self.items if self.items else 0.0
