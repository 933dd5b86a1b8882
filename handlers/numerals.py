"""Text folding and numbers as clerks type them: Arabic, full-width or Chinese numerals, units and halves."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers.errors import InputError

NOT_A_NUMBER = "请回复一个数字，例如 6"
NEGATIVE = "不能是负数"
WHOLE_ONLY = "只能填整数，例如 6"
HALF_ONLY = "只能填整数或半分，例如 115.5"
TOO_BIG = "数字太大了，请核对后再填"
NOTE_APART = "数字和备注之间请空一格，例如：6 其中两次线上"

# After folding: full-width ，；：！？． have become , ; : ! ? .
SEPARATORS = " ,、;。!?:."
UNITS = "次分个项场回"
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
# Python refuses int() on strings of more than 4300 digits; no real count or score needs 7.
MAX_DIGITS = 6

_CN_DIGIT_CHARS = "".join(CN_DIGITS)
_CN_CHARS = _CN_DIGIT_CHARS + "".join(CN_UNITS) + "廿"
_SEP_CLASS = re.escape(SEPARATORS)

NUMBER_RE = re.compile(
    r"(?P<sign>[-−负] ?)?"
    r"(?:(?P<arabic>[0-9]+)(?:[.点](?P<arabic_frac>[0-9]+))?"
    rf"|(?P<chinese>[{_CN_CHARS}]+)(?:[.点](?P<chinese_frac>[{_CN_DIGIT_CHARS}]+))?)"
    r"(?P<half>个?半)?"
    rf"(?:(?P<unit>[{UNITS}])| (?P<spaced_unit>[{UNITS}])(?=$|[{_SEP_CLASS}]))?"
)


@dataclass(frozen=True)
class Folded:
    """Folded text plus, for each of its characters, the span of the original it came from."""

    text: str
    original: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> str:
        """The original text behind folded characters start..end."""
        if end <= start:
            return ""
        return self.original[self.starts[start] : self.ends[end - 1]]


def _fold_char(char: str) -> str:
    if char.isspace():
        return " "
    out = []
    for folded in unicodedata.normalize("NFKC", char):
        digit = unicodedata.decimal(folded, None)
        if folded.isspace():
            out.append(" ")
        elif digit is not None:
            out.append(str(digit))
        elif unicodedata.category(folded) != "Cf":  # zero-width spaces, BOMs from phone keyboards
            out.append(folded)
    return "".join(out)


def fold(original: str) -> Folded:
    """Fold like NFKC, turn every digit into ASCII, every space into one " ", and strip."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for index, char in enumerate(original):
        for out in _fold_char(char):
            if out == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(out)
            starts.append(index)
            ends.append(index + 1)
    if chars and chars[-1] == " ":
        del chars[-1], starts[-1], ends[-1]
    return Folded("".join(chars), original, tuple(starts), tuple(ends))


def normalise(text: str) -> str:
    """Full-width to half-width digits, letters and punctuation, one kind of space, stripped."""
    return fold(text).text


def _positional(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise InputError(TOO_BIG)
    return int("".join(str(CN_DIGITS[c]) for c in text))


def chinese_int(text: str) -> int:
    """十二 -> 12, 一百零五 -> 105, 一百二 -> 120, 二〇一三 -> 2013; InputError when malformed."""
    text = text.replace("廿", "二十")
    if all(c in CN_DIGITS for c in text):
        return _positional(text)
    total, digit, last_unit, after_zero = 0, None, 10_000, False
    for char in text:
        if char in CN_UNITS:
            unit = CN_UNITS[char]
            if unit >= last_unit or (digit is None and unit != 10):
                raise InputError(NOT_A_NUMBER)
            total += (1 if digit is None else digit) * unit
            digit, last_unit, after_zero = None, unit, False
        elif digit is not None:
            raise InputError(NOT_A_NUMBER)
        elif CN_DIGITS[char] == 0:
            after_zero = True
        else:
            digit = CN_DIGITS[char]
    if digit is not None:
        # 一百二 means 120, but 一百零二 means 102.
        shortened = not after_zero and 10 < last_unit < 10_000
        total += digit * (last_unit // 10 if shortened else 1)
    return total


def _whole(match: re.Match) -> int:
    if match["arabic"] is None:
        return chinese_int(match["chinese"])
    digits = match["arabic"].lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:
        raise InputError(TOO_BIG)
    return int(digits)


def _has_half(match: re.Match, allow_half: bool) -> bool:
    fraction = match["arabic_frac"] or "".join(str(CN_DIGITS[c]) for c in match["chinese_frac"] or "")
    fraction = fraction.rstrip("0")
    bad = HALF_ONLY if allow_half else WHOLE_ONLY
    if fraction not in ("", "5") or (fraction and match["half"]):
        raise InputError(bad)
    has_half = fraction == "5" or bool(match["half"])
    if has_half and not allow_half:
        raise InputError(bad)
    return has_half


def value_of(match: re.Match, allow_half: bool) -> int | float:
    """The value of a NUMBER_RE match; InputError when negative, fractional or too big."""
    whole = _whole(match)
    if match["sign"]:
        raise InputError(NEGATIVE)
    return whole + 0.5 if _has_half(match, allow_half) else whole


def is_terminated(match: re.Match) -> bool:
    """A number ends a word: at the end, before a separator, or with a unit or 半."""
    end, text = match.end(), match.string
    if end == len(text) or text[end] in SEPARATORS:
        return True
    return bool(match["unit"] or match["half"])


def parse_number(text: str, *, allow_half: bool = False) -> float | int:
    """A whole number (or a half with allow_half) in any of the ways people type one."""
    folded = normalise(text)
    match = NUMBER_RE.fullmatch(folded)
    if match is None:
        raise InputError(NOT_A_NUMBER)
    return value_of(match, allow_half)


def note_after(folded: Folded, start: int, end: int | None = None) -> str | None:
    """The original text from start to end with separators around it removed; None when empty."""
    end = len(folded.text) if end is None else end
    while start < end and folded.text[start] in SEPARATORS:
        start += 1
    while end > start and folded.text[end - 1] in SEPARATORS:
        end -= 1
    return folded.span(start, end).strip() or None
