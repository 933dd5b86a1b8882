"""What officers and voters type about votes: 发起推荐 arguments, 提名, ballots of numbers; refusals as codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from handlers.errors import InputError
from handlers.numerals import chinese_int, normalise
from storage.campaign import Campaign, Recommendation

_LIMIT = re.compile(r"限选\s*([0-9]+|[一二两三四五六七八九十]+)\s*[人个名项]?")
_CLOSE = re.compile(
    r"截[止至]\s*(?:(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?)?\s*(?:(\d{1,2})\s*[:点时]\s*(\d{1,2})?\s*分?)?"
)
_NUMBERS = re.compile(r"[0-9]+|[一二两三四五六七八九十]+")
_BALLOT_SEPARATORS = re.compile(r"[\s,、;，；和及与+]+")


class VoteRefusal(InputError):
    """A refused vote action: `code` picks the sentence in templates/vote_refused.txt, `values` fill it."""

    def __init__(self, code: str, **values):
        super().__init__(code)
        self.code, self.values = code, values


@dataclass(frozen=True)
class OpenRequest:
    recommendation: Recommendation
    max_choices: int | None
    closes_at: datetime | None
    rest: str  # what is left: an administrator's group name


def _int(text: str) -> int:
    try:
        value = int(text) if text.isdigit() else chinese_int(text)
    except InputError:
        raise VoteRefusal("not_numbers", text=text[:10]) from None
    if value > 10_000:
        raise VoteRefusal("not_numbers", text=text[:10])
    return value


def find_recommendation(campaign: Campaign, text: str) -> Recommendation | None:
    """By name (先进基层党组织), by key, or by a distinctive start of the name (先进, 优秀)."""
    for r in campaign.recommendations:
        if r.name in text or r.key in text.split():
            return r
    hits = [r for r in campaign.recommendations if any(r.name[:n] in text for n in (2, 4) if len(r.name) > n)]
    return hits[0] if len(hits) == 1 else None


def parse_open(text: str, campaign: Campaign, now: datetime) -> OpenRequest:
    """`先进基层党组织 限选2 截止12-27 17:00`; the limit and the closing time are optional."""
    text = normalise(text)
    recommendation = find_recommendation(campaign, text)
    if recommendation is None:
        raise VoteRefusal("unknown_kind", kinds=[r.name for r in campaign.recommendations])
    limit = _LIMIT.search(text)
    close = _CLOSE.search(text)
    rest = _CLOSE.sub(" ", _LIMIT.sub(" ", text)).replace(recommendation.name, " ")
    return OpenRequest(
        recommendation,
        _int(limit[1]) if limit else None,
        _closing_time(close, campaign, now) if close else None,
        " ".join(rest.split()),
    )


def _closing_time(match: re.Match, campaign: Campaign, now: datetime) -> datetime:
    local = campaign.local(now)
    if match[1] is None and match[3] is None:
        raise VoteRefusal("bad_close")
    try:
        day = local.date().replace(month=int(match[1]), day=int(match[2])) if match[1] else local.date()
        at = time(int(match[3]), int(match[4] or 0)) if match[3] else None
    except ValueError:
        raise VoteRefusal("bad_close") from None
    if day < local.date() - timedelta(days=180):
        day = day.replace(year=day.year + 1)  # 截止01-02 said on 12-30
    if at is None:
        return datetime.combine(day + timedelta(days=1), time(0), campaign.tz)  # the whole day
    return datetime.combine(day, at, campaign.tz)


def parse_choices(text: str) -> list[int]:
    """`1 3`, `1、3`, `一 三`: the numbers of the chosen candidates, in the order typed."""
    text = normalise(text)
    parts = [p for p in _BALLOT_SEPARATORS.split(text) if p]
    if not parts:
        raise VoteRefusal("empty")
    numbers = []
    for part in parts:
        if not _NUMBERS.fullmatch(part):
            raise VoteRefusal("not_numbers", text=part[:10])
        numbers.append(_int(part))
    return numbers


def parse_nomination(text: str) -> tuple[str, str]:
    """`王芳 市财政局机关党委` or `王芳 U01`: the name, then the unit (name, short name or code)."""
    parts = normalise(text).split()
    if len(parts) < 2 or not 1 < len(parts[0]) <= 20:
        raise VoteRefusal("bad_nomination")
    return parts[0], " ".join(parts[1:])
