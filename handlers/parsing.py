"""Reading what clerks type: single numbers, step answers, and sentences naming several items."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from handlers.errors import InputError
from handlers.numerals import (
    NOT_A_NUMBER,
    NOTE_APART,
    NUMBER_RE,
    SEPARATORS,
    UNITS,
    Folded,
    fold,
    is_terminated,
    normalise,
    note_after,
    parse_number,
    value_of,
)
from handlers.prose import clean_note, unread_parts

__all__ = [
    "Found",
    "Item",
    "SentenceResult",
    "match_item",
    "normalise",
    "parse_answer",
    "parse_number",
    "parse_sentence",
]

SUB_ITEM_PREFIX = "其中"
_ORDINAL = "(?:十[一二三四五六七八九]?|[一二三四五六七八九])"
ORDINAL_RE = re.compile(rf"{_ORDINAL}[、.] ?|\({_ORDINAL}\)[、.]? ?")
# What may stand between a name and its number: 党委会：6、党委会开了6次、组织建设自评170分.
GLUE_RE = re.compile(
    r"(?:[ ,:=]|共计|一共|总共|合计|累计|共|计|为|是|有|大概|大约|约|差不多|开了|开过|召开了|开展了|举办了|组织了|开|自评|得分)*"
)
# Names hold 、 . ( ) and spaces may be typed inside them, but never these.
NAME_STOP_RE = re.compile(r"[,;。!?:]")
SENTENCE_END_RE = re.compile(r"[。!?]")
MIN_SHORT_FORM = 2
SHORT = 32  # answers up to this long are remembered (a pure function; longer ones are rare and would cost memory)
EXACT, ALIAS, SHORT_FORM = range(3)


@dataclass(frozen=True)
class Item:
    key: str
    name: str
    kind: str  # "activity" or "category"
    aliases: tuple[str, ...] = ()


@dataclass
class Found:
    key: str
    value: int | float
    note: str | None
    fragment: str


@dataclass
class SentenceResult:
    found: list[Found]
    ambiguous: list[tuple[str, list[str]]]
    unrecognised: list[str]
    errors: list[tuple[str, str]]


class _Forms(NamedTuple):
    exact: frozenset[str]
    aliases: frozenset[str]
    sources: frozenset[str]  # what short forms may be cut from
    chars: frozenset[str]

    @property
    def every(self) -> frozenset[str]:
        return self.exact | self.sources


class _Name(NamedTuple):
    start: int
    end: int
    tier: int
    candidates: list[Item]


def parse_answer(text: str, *, allow_half: bool = False) -> tuple[int | float, str | None]:
    """A number, then optionally a free note after a space, punctuation or a unit: "6次，其中两次线上"."""
    if len(text) <= SHORT:  # asked every turn of a form, mostly of the same few texts: "6", "12"
        return _short_answer(text, allow_half)
    return _parse_answer(text, allow_half)


@lru_cache(maxsize=4096)
def _short_answer(text: str, allow_half: bool) -> tuple[int | float, str | None]:
    return _parse_answer(text, allow_half)


def _parse_answer(text: str, allow_half: bool) -> tuple[int | float, str | None]:
    folded = fold(text)
    match = NUMBER_RE.match(folded.text)
    if match is None:
        raise InputError(NOT_A_NUMBER)
    if not is_terminated(match):
        raise InputError(NOTE_APART)
    return value_of(match, allow_half), note_after(folded, match.end())


def _squash(text: str) -> str:
    return normalise(text).replace(" ", "")


def _without_ordinal(text: str) -> str:
    """三、组织建设 -> 组织建设; text is normalised, spaces still in."""
    ordinal = ORDINAL_RE.match(text)
    return text[ordinal.end() :] if ordinal else text


def _is_sub_item(item: Item) -> bool:
    return _squash(_without_ordinal(normalise(item.name))).startswith(SUB_ITEM_PREFIX)


@lru_cache(maxsize=1024)
def _forms(item: Item) -> _Forms:
    """Exact names (ordinal and 其中 optional), explicit aliases, and the texts short forms come from."""
    name = _squash(_without_ordinal(normalise(item.name)))
    bare = name.removeprefix(SUB_ITEM_PREFIX)
    aliases = frozenset(a for a in map(_squash, item.aliases) if a)
    return _Forms(frozenset({name, bare}), aliases, aliases | {bare}, frozenset(name + "".join(aliases)))


def _tier_of(text: str, item: Item) -> int | None:
    forms = _forms(item)
    if text in forms.exact:
        return EXACT
    if text in forms.aliases:
        return ALIAS
    if len(text) >= MIN_SHORT_FORM and any(text in source for source in forms.sources):
        return SHORT_FORM
    return None


def _rank(hits: list[Item]) -> list[Item]:
    # A name that fits both a total and its "其中" (of which) part means the total: 党课 -> 领导上党课.
    main = [item for item in hits if not _is_sub_item(item)]
    if len(main) == 1:
        return main
    return main + [item for item in hits if _is_sub_item(item)]


def _match(text: str, items: list[Item]) -> tuple[int, list[Item]]:
    """Best tier and its candidates for already normalised text."""
    plain = text.replace(" ", "")
    # Only categories are numbered (三、组织建设); elsewhere 一、 is more likely a count.
    texts = {"category": _squash(_without_ordinal(text))}
    tiers = [(_tier_of(texts.get(item.kind, plain), item), item) for item in items] if plain else []
    found = [tier for tier, _ in tiers if tier is not None]
    if not found:
        return SHORT_FORM, []
    best = min(found)
    return best, _rank([item for tier, item in tiers if tier == best])


def match_item(fragment: str, items: list[Item]) -> list[Item]:
    """Candidates for a name fragment, best first: exact name, then alias, then short forms."""
    return _match(normalise(fragment), items)[1]


def _reach(items: list[Item]) -> int:
    """How far past a name's start its longest form can end, with room for spaces and an ordinal."""
    return 8 + max((len(form) for item in items for form in _forms(item).every), default=0)


def _longest_name(text: str, start: int, items: list[Item], reach: int) -> _Name | None:
    if not ORDINAL_RE.match(text, start) and not any(text[start] in _forms(i).chars for i in items):
        return None
    stop = NAME_STOP_RE.search(text, start)
    for end in range(min(stop.start() if stop else len(text), start + reach), start, -1):
        if text[end - 1] == " ":
            continue
        tier, candidates = _match(text[start:end], items)
        if candidates:
            return _Name(start, end, tier, candidates)
    return None


def _number_after(text: str, name: _Name) -> re.Match | None:
    return _number_at(text, name.end)


def _number_at(text: str, end: int) -> re.Match | None:
    match = NUMBER_RE.match(text, GLUE_RE.match(text, end).end())
    return match if match and is_terminated(match) else None


def _may_start(text: str, index: int) -> bool:
    before = text[index - 1]
    return before in SEPARATORS or before in UNITS or before.isdigit()


def _answers_previous(text: str, index: int, previous: _Name | None) -> int | None:
    """Where 一、 ends when it is the number of a name still waiting for one, not a category's ordinal."""
    ordinal = ORDINAL_RE.match(text, index)
    if previous is None or ordinal is None or _number_after(text[:index], previous):
        return None
    return ordinal.end() if _number_after(text[: ordinal.end()], previous) else None


def _segments(text: str, items: list[Item]) -> list[tuple[int, _Name | None]]:
    """Where each item's fragment starts: a name that is exact or has a number, after a separator; or,
    inside a clause ("今年我们党委会开了八次"), a full name with its number, the clause's start being the
    fragment's start, so the previous item's note ends where this item's clause begins."""
    starts: list[tuple[int, _Name | None]] = []
    index, reach, full = 0, _reach(items), _full_forms(tuple(items))
    while index < len(text):
        if text[index] in SEPARATORS:
            index += 1
            continue
        if starts and not _may_start(text, index):
            name = _inside_clause(text, index, items, full)
            if name is None:
                index += 1
                continue
            _start_in_clause(starts, text, name)
            index = name.end
            continue
        name = _longest_name(text, index, items, reach)
        strong = name is not None and (name.tier != SHORT_FORM or _number_after(text, name))
        number_end = _answers_previous(text, index, starts[-1][1]) if strong and starts else None
        if number_end is not None:
            index = number_end
            continue
        if not starts or strong:
            starts.append((index, name))
        index = name.end if strong else index + 1
    return starts


@lru_cache(maxsize=64)
def _full_forms(items: tuple[Item, ...]) -> tuple[str, ...]:
    return tuple({form for item in items for form in _forms(item).exact | _forms(item).aliases if form})


def _inside_clause(text: str, index: int, items: list[Item], full: tuple[str, ...]) -> _Name | None:
    """The longest full name (or alias) starting mid-clause and followed by its number; None otherwise."""
    ends = sorted((index + len(form) for form in full if text.startswith(form, index)), reverse=True)
    end = next((end for end in ends if _number_at(text, end)), None)
    if end is None:
        return None
    tier, candidates = _match(text[index:end], items)
    return _Name(index, end, tier, candidates) if candidates and tier != SHORT_FORM else None


def _start_in_clause(starts: list[tuple[int, _Name | None]], text: str, name: _Name) -> None:
    """Start the name's fragment at its clause's start, never before the previous item's number."""
    previous_start, previous = starts[-1]
    number = _number_after(text, previous) if previous else None
    floor = number.end() if number else previous_start
    start = name.start
    while start > floor and not _may_start(text, start):
        start -= 1
    if start == previous_start and number is None:
        starts[-1] = (start, name)  # the lead-in ("今年我们") was no item of its own
    else:
        starts.append((start, name))


def _read(folded: Folded, start: int, end: int, name: _Name | None, result: SentenceResult) -> Found | None:
    """Record one segment as ambiguous, unrecognised or an error; or return what it says. A note runs
    to the end of its sentence at most; what follows it, naming no item, is listed as unread."""
    number = None if name is None else _number_after(folded.text[:end], name)
    if number is not None:
        stop = SENTENCE_END_RE.search(folded.text, number.end(), end)
        if stop:
            _unread(result, note_after(folded, stop.end(), end))
            end = stop.start()
    fragment = note_after(folded, start, end) or ""
    if number is not None and len(name.candidates) > 1:
        result.ambiguous.append((fragment, [item.key for item in name.candidates]))
        return None
    if number is None:
        _unread(result, fragment)
        return None
    item = name.candidates[0]
    try:
        value = value_of(number, allow_half=item.kind == "category")
    except InputError as error:
        result.errors.append((fragment, error.reason))
        return None
    return Found(item.key, value, clean_note(note_after(folded, number.end(), end)), fragment)


def _unread(result: SentenceResult, fragment: str | None) -> None:
    """Each part once (a phone's repeated line is one), greetings and thanks not at all."""
    for part in unread_parts(fragment or ""):
        if part not in result.unrecognised:
            result.unrecognised.append(part)


def _add(result: SentenceResult, found: Found, name: str, repeated: set[str]) -> None:
    earlier = next((f for f in result.found if f.key == found.key), None)
    if found.key in repeated or (earlier and earlier.value != found.value):
        # Two different counts for one item: asking beats silently keeping either.
        shown = f"（{earlier.value} 和 {found.value}）" if earlier else ""
        result.errors.append((found.fragment, f"{name}写了两次{shown}，请只写一次"))
        result.found = [f for f in result.found if f.key != found.key]
        repeated.add(found.key)
    elif earlier is None:
        result.found.append(found)


def parse_sentence(text: str, items: list[Item]) -> SentenceResult:
    """Every "name number [note]" in a free sentence; never raises."""
    folded = fold(text)
    result = SentenceResult([], [], [], [])
    starts = _segments(folded.text, items)
    ends = [start for start, _ in starts[1:]] + [len(folded.text)]
    repeated: set[str] = set()
    for (start, name), end in zip(starts, ends, strict=False):
        found = _read(folded, start, end, name, result)
        if found is not None:
            _add(result, found, name.candidates[0].name, repeated)
    return result
