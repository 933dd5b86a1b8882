"""The text of JSON columns: orjson where it can, the standard library's json (the old text) where it cannot.

A turn writes two JSON values (its stored answer and the sender's dialog state) and reads one (the state).
With the standard library that was about 6 % of an answer turn's instructions (make bench-instructions):
its encoder escapes every Chinese character as a six-byte \\uXXXX. orjson (a well-kept Rust extension,
also what FastAPI's ORJSONResponse uses) writes compact UTF-8 and reads it back in a fraction of the time.

What orjson refuses goes the old way, so nothing that was stored or refused before changes: a value it
does not take as JSON (a datetime or a dataclass, which json refuses as well, so the error is the one it
always was; an integer past 64 bits; a lone surrogate, which json escapes) is written by json.dumps, and
a text it does not read (NaN, a lone surrogate's escape, both of which json wrote) is read by json.loads.
orjson writes an infinite or NaN float as null without a word, so a value whose text has a null is looked
through for one, and written by json.dumps if it has (Infinity, as before; PostgreSQL refuses it as before).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# dict keys that are not str become str as json.dumps makes them; datetimes and dataclasses are refused
# (the old behaviour) instead of being written in orjson's own form
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value)
    if b"null" in text and not _finite(value):
        return json.dumps(value)
    return text.decode()


def _finite(value: Any) -> bool:
    """No float in it (a key or a value, at any depth) is infinite or NaN. A turn's state has a null most
    times (an item not filled yet), so this runs on it: its scalars are passed over without a call."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.__class__ not in _PLAIN and not _finite(key):
                return False
            if item.__class__ not in _PLAIN and not _finite(item):
                return False
        return True
    if isinstance(value, list | tuple):
        for item in value:
            if item.__class__ not in _PLAIN and not _finite(item):
                return False
        return True
    return not isinstance(value, float) or math.isfinite(value)


_PLAIN = frozenset({str, int, bool, type(None)})  # no float inside, whatever it holds


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
