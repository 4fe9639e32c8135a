"""What each service reads and writes on Kafka, read from its code (not from a hand-kept table).

A service *reads* the topics of its ``consumer``/``batch_consumer`` registrations with their
``group_id`` (the gateway's ``subscriber_lifespan(name, TOPIC, ...)``: group ``gateway-<name>``), and *writes* the topic of every ``publish(broker, TOPIC, ...)`` call, plus
``deadletter.v1`` when it dead-letters (a ``dead_letter`` call, or any consumer: the runtime
dead-letters what a consumer rejects). Names are resolved against libs/contracts/topics.py and the
module's own string constants.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache

from libs.contracts import topics as topics_module
from libs.contracts.topics import DEADLETTER
from tools.devstack import ROOT, SERVICES

TOPICS = {name: value for name, value in vars(topics_module).items() if name.isupper() and isinstance(value, str)}


@dataclass
class Access:
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


def _constants(tree: ast.Module) -> dict[str, str]:
    out = dict(TOPICS)
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _value(node: ast.AST, names: dict[str, str], where: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    raise AssertionError(f"{where}: cannot read {ast.unparse(node)} statically")


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def service_access(service: str) -> Access:
    access = Access()
    for path in sorted((ROOT / "services" / service).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names = _constants(tree)
        where = str(path.relative_to(ROOT))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            callee = _callee(call)
            if callee == "publish" and len(call.args) >= 2 and not isinstance(call.func, ast.Attribute):
                access.writes.add(_value(call.args[1], names, where))
            elif callee == "dead_letter":
                access.writes.add(DEADLETTER)
            elif callee == "subscriber_lifespan":  # the gateway's read models (web/subscribers.py)
                access.reads.add(_value(call.args[1], names, where))
                access.groups.add("gateway-" + _value(call.args[0], names, where))
                access.writes.add(DEADLETTER)
            elif callee in ("consumer", "batch_consumer") and where.endswith("gateway/web/subscribers.py"):
                continue  # the generic helper: its topic and group come from each subscriber_lifespan call
            elif callee in ("consumer", "batch_consumer"):
                kw = {k.arg: k.value for k in call.keywords}
                topics = kw["topics"].elts if isinstance(kw["topics"], ast.Tuple) else [kw["topics"]]
                access.reads |= {_value(t, names, where) for t in topics}
                access.groups.add(_value(kw["group_id"], names, where))
                access.writes.add(DEADLETTER)
    return access


@lru_cache(maxsize=1)
def all_access() -> dict[str, Access]:
    return {s: service_access(s) for s in SERVICES}


if __name__ == "__main__":  # pragma: no cover
    for s, a in all_access().items():
        print(s, sorted(a.reads), sorted(a.writes), sorted(a.groups))
