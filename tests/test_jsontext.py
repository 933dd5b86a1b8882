"""JSON columns' text (storage/jsontext.py): orjson where it can, the old json text where it cannot."""

import json
import math
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from handlers.base import Inbound
from storage import jsontext
from tests.transcript import Chat

JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSONABLE)
def test_what_is_written_reads_back_as_json_would_read_its_own(value):
    # compared as json's text of what was read: NaN is not equal to itself
    assert json.dumps(jsontext.loads(jsontext.dumps(value))) == json.dumps(json.loads(json.dumps(value)))


@given(JSONABLE)
def test_what_json_wrote_before_reads_back_the_same(value):
    assert json.dumps(jsontext.loads(json.dumps(value))) == json.dumps(json.loads(json.dumps(value)))


def test_chinese_is_written_as_utf8_without_spaces():
    written = jsontext.dumps([{"text": "已记录：党委会 6 次。", "to": None}])
    assert written == '[{"text":"已记录：党委会 6 次。","to":null}]'


def test_keys_that_are_not_text_become_text_as_json_makes_them():
    assert jsontext.loads(jsontext.dumps({1: "a", False: "b", None: "c", 2.5: "d"})) == json.loads(
        json.dumps({1: "a", False: "b", None: "c", 2.5: "d"})
    )


def test_what_json_refused_is_still_refused():
    @dataclass
    class Point:
        x: int

    for value in ({"at": datetime(2013, 12, 12)}, Point(1), {1, 2}):
        with pytest.raises(TypeError):
            jsontext.dumps(value)


def test_what_orjson_cannot_write_is_written_as_json_wrote_it():
    assert jsontext.dumps({"n": 2**70}) == json.dumps({"n": 2**70})
    lone = "\ud800"  # cannot be UTF-8: json escapes it
    assert jsontext.dumps([lone]) == json.dumps([lone]) and jsontext.loads(jsontext.dumps([lone])) == [lone]


def test_an_infinite_or_nan_float_is_written_as_json_wrote_it_not_as_null():
    for value in ([math.inf], {"x": {"y": [1.5, -math.inf]}}, {math.inf: "k"}, {"n": None, "v": (math.nan,)}):
        assert jsontext.dumps(value) == json.dumps(value)
    assert jsontext.loads(jsontext.dumps({"x": [None, math.inf]})) == {"x": [None, math.inf]}


def test_what_orjson_cannot_read_is_read_as_json_read_it():
    assert math.isnan(jsontext.loads('{"x": NaN}')["x"])
    assert jsontext.loads('["\\ud800"]') == ["\ud800"]
    with pytest.raises(ValueError):
        jsontext.loads("{not json")


def test_the_database_keeps_a_turns_json_as_utf8_text_and_reads_it_back(any_services):
    first = Chat(any_services, "wangfang").say("填报")
    with any_services.db.read() as session:
        key, stored = session.execute(text("SELECT key, CAST(replies AS TEXT) FROM processed_message")).one()
    assert "开始填写统计表" in stored and "\\u" not in stored
    again = any_services.dispatcher.dispatch(Inbound(channel="sim", userid="wangfang", text="填报", msg_key=key))
    assert "\n\n".join(r.text for r in again) == first  # a redelivery: the stored answer, read back
