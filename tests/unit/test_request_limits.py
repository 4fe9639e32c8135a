"""The JSON nesting measure the gateway applies to every JSON body before parsing it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.web.request_limits import MAX_JSON_DEPTH, json_depth


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [0, 1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_depth_of_nested_arrays(depth):
    assert json_depth(_nested(depth)) == depth


def test_brackets_inside_strings_do_not_count_even_with_escaped_quotes():
    body = orjson.dumps({"t": "[[[[{{{{" * 100, "u": 'a \\" [[[ " ]]] {'})
    assert json_depth(body) == 1


def test_ndjson_counts_each_line_on_its_own_but_json_does_not():
    lines = b"\n".join([b'{"a": [' for _ in range(50)])  # 50 broken lines, each 2 deep
    assert json_depth(lines, per_line=True) == 2
    assert json_depth(lines) == 100
    pretty = orjson.dumps({"a": {"b": {"c": [1, 2]}}}, option=orjson.OPT_INDENT_2)
    assert json_depth(pretty) == 4, "a pretty-printed document keeps its depth across lines"


json_values = st.recursive(st.none() | st.integers(-10**9, 10**9) | st.text(alphabet="[]{}\"\\ab", max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                           max_leaves=30)


def _true_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_true_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_true_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_depth_equals_the_parsed_structure_depth(value):
    assert json_depth(orjson.dumps(value)) == _true_depth(value)
