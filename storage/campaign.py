"""The campaign: the evaluation's calendar, tables and reminders, loaded from a TOML file and checked."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CAMPAIGN = Path(__file__).resolve().parent.parent / "campaigns" / "luoyang-2013.toml"
AUDIENCES = ("clerks_not_submitted", "clerks_all", "liaison_officers", "voters_not_voted", "admins")


class CampaignError(ValueError):
    """A campaign file that cannot be used: names the file, the key and the reason."""

    def __init__(self, file: str, key: str, reason: str):
        super().__init__(f"{file}: {key}: {reason}")
        self.file, self.key, self.reason = file, key, reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Info(_Strict):
    id: str
    title: str
    issuer: str = ""
    doc_no: str = ""
    year: int
    timezone: str = "Asia/Shanghai"
    org_types: list[str]
    summary_topics: list[str] = []
    report_to: list[str] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"不认识的时区 {value!r}（例如 Asia/Shanghai）") from None
        return value


class Weights(_Strict):
    year_end: float = 0.7
    routine: float = 0.3


class Scoring(_Strict):
    """How the year-end part, the final score and the grade are worked out; every key optional."""

    year_end_scale: float = Field(100, gt=0)  # the reviewed table-2 total is scaled to this (1000 -> 100)
    routine_max: float = Field(100, gt=0)  # routine (平时) scores run from 0 to this
    precision: int = Field(2, ge=0, le=4)  # decimal places of the year-end part and the final score
    bonus_max: float | None = Field(None, gt=0)  # a cap on one unit's approved bonus in all; None: no cap


class Checks(_Strict):
    # A count above this many times its annual target is read back with the target and a question
    # ("党委会 120 次，年度目标 6 次，确认无误吗？") before it is saved.
    confirm_over_target: float = Field(default=5, gt=1)


class Phase(_Strict):
    key: str
    name: str
    start: date
    end: date
    what: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Phase:
        if self.end < self.start:
            raise ValueError(f"阶段的结束日（{self.end}）早于开始日（{self.start}）")
        return self


class Activity(_Strict):
    key: str
    name: str
    group: str | None = None
    targets: dict[str, int] = {}
    at_most: str | None = None
    aliases: list[str] = []

    def applies_to(self, org_type: str) -> bool:
        """An activity with targets applies to those org types; one without targets applies to all."""
        return not self.targets or org_type in self.targets


class Category(_Strict):
    key: str
    name: str
    subitems: int = Field(ge=0)
    points: float = Field(gt=0)
    aliases: list[str] = []


class KeyWork(_Strict):
    key: str
    name: str


class Recommendation(_Strict):
    key: str
    name: str
    candidates: Literal["units_of_group", "nominated_people"]
    max_choices: int = Field(1, ge=1)  # the default 限选 when the officer names none
    ballot_per: Literal["clerk", "unit"] = "clerk"  # every clerk votes, or one ballot per unit


class Grade(_Strict):
    name: str
    min_score: float


class Reminder(_Strict):
    key: str
    at: datetime
    audience: Literal[AUDIENCES]  # type: ignore[valid-type]
    about: str


class Campaign(_Strict):
    campaign: Info
    weights: Weights = Weights()
    scoring: Scoring = Scoring()

    checks: Checks = Checks()
    phases: list[Phase]
    activities: list[Activity]
    categories: list[Category]
    key_work: list[KeyWork] = []
    recommendations: list[Recommendation] = []
    grades: list[Grade] = []
    reminders: list[Reminder] = []

    @property
    def id(self) -> str:
        return self.campaign.id

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.campaign.timezone)

    @property
    def total_points(self) -> float:
        return sum(c.points for c in self.categories)

    def phase(self, key: str) -> Phase:
        return next(p for p in self.phases if p.key == key)

    def activity(self, key: str) -> Activity:
        return next(a for a in self.activities if a.key == key)

    def category(self, key: str) -> Category:
        return next(c for c in self.categories if c.key == key)

    def activities_for(self, org_type: str) -> list[Activity]:
        return [a for a in self.activities if a.applies_to(org_type)]

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def phase_bounds(self, key: str) -> tuple[datetime, datetime]:
        """A phase's [start, end) as aware datetimes: its dates are inclusive local calendar days."""
        phase = self.phase(key)
        start = datetime.combine(phase.start, time(0), self.tz)
        end = datetime.combine(phase.end + timedelta(days=1), time(0), self.tz)
        return start, end

    def reminder_time(self, reminder: Reminder) -> datetime:
        at = reminder.at
        return at if at.tzinfo else at.replace(tzinfo=self.tz)


# pydantic's error types in the words of the person editing the file (the rest keep pydantic's own words)
_REASONS = {
    "missing": "缺少这一项",
    "extra_forbidden": "不认识这一项（拼写错了，或放错了位置？）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "string_type": "应为文字（加英文引号）",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "literal_error": "应为以下之一：{expected}",
    "list_type": "应为列表（[...] 或 [[...]]）",
    "dict_type": "应为表（[...] 或 {{...}}）",
    "model_type": "应为表（[...] 或 {{...}}）",
    "model_attributes_type": "应为表（[...] 或 {{...}}）",
    "date_parsing": "日期格式不对（例如 2013-12-23）",
    "date_from_datetime_parsing": "日期格式不对（例如 2013-12-23）",
    "date_type": "日期格式不对（例如 2013-12-23）",
    "datetime_parsing": "时间格式不对（例如 2013-12-23T09:00）",
    "datetime_from_date_parsing": "时间格式不对（例如 2013-12-23T09:00）",
    "datetime_type": "时间格式不对（例如 2013-12-23T09:00）",
}


def _reason(err: dict) -> str:
    if err["type"] == "value_error":  # the model's own checks, already in these words
        return err["msg"].removeprefix("Value error, ")
    words = _REASONS.get(err["type"])
    if words is None:
        return f"取值不对（{err['msg']}）"
    ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in err.get("ctx", {}).items()}
    if "expected" in ctx:  # "'a', 'b' or 'c'"
        ctx["expected"] = str(ctx["expected"]).replace(" or ", ", ")
    try:
        return words.format(**ctx)
    except (KeyError, IndexError):
        return f"取值不对（{err['msg']}）"


def _syntax_reason(detail: str) -> str:
    """tomllib's message, with where it is in Chinese: `第 3 行第 9 列` (its own words kept after it)."""
    where = re.search(r"\(at line (\d+), column (\d+)\)", detail)
    if where:
        return f"TOML 格式错误，第 {where[1]} 行第 {where[2]} 列（{detail[: where.start()].strip()}）"
    if "(at end of document)" in detail:
        return f"TOML 格式错误，在文件末尾（{detail.replace('(at end of document)', '').strip()}）"
    return f"TOML 格式错误（{detail}）"


def _location(loc: tuple, data: dict) -> str:
    """Turn a pydantic error location into the file's own words: `activities[3].targets`, with the item key."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            key = (
                node[step].get("key")
                if isinstance(node, list) and step < len(node) and isinstance(node[step], dict)
                else None
            )
            parts[-1] += f"[{step}]" + (f"({key})" if key else "")
        else:
            parts.append(str(step))
        node = node[step] if isinstance(node, (dict, list)) and _has(node, step) else {}
    return ".".join(parts) or "(file)"


def _has(node, step) -> bool:
    return (isinstance(node, dict) and step in node) or (
        isinstance(node, list) and isinstance(step, int) and step < len(node)
    )


def _check_consistency(c: Campaign) -> tuple[str, str] | None:
    """Cross-field rules a schema cannot say; returns (key, reason) for the first broken one."""
    for i, a in enumerate(c.activities):
        for org in a.targets:
            if org not in c.campaign.org_types:
                return (
                    f"activities[{i}]({a.key}).targets",
                    f"目标用了未列出的单位类型 {org!r}（campaign.org_types 里没有）",
                )
        if a.at_most and a.at_most not in {x.key for x in c.activities}:
            return f"activities[{i}]({a.key}).at_most", f"没有这个活动 {a.at_most!r}"
    for name, items in (
        ("phases", c.phases),
        ("activities", c.activities),
        ("categories", c.categories),
        ("reminders", c.reminders),
    ):
        keys = [x.key for x in items]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            return name, f"key 重复：{dupes[0]!r}"
    names = [g.name for g in c.grades]
    if len(set(names)) != len(names):
        return "grades", "等次名称重复"
    if "self_check" not in {p.key for p in c.phases}:
        return "phases", "必须有 key 为 'self_check' 的阶段（自查总结）"
    return _check_reminders(c)


def _check_reminders(c: Campaign) -> tuple[str, str] | None:
    phase_keys = {p.key for p in c.phases}
    first = min(c.phase_bounds(p.key)[0] for p in c.phases)
    last = max(c.phase_bounds(p.key)[1] for p in c.phases)
    for i, r in enumerate(c.reminders):
        where = f"reminders[{i}]({r.key})"
        if r.about not in phase_keys:
            return f"{where}.about", f"没有这个阶段 {r.about!r}"
        if not first <= c.reminder_time(r) < last:
            return (
                f"{where}.at",
                f"{r.at} 不在考核期间内（{first.date()} 至 {(last - timedelta(days=1)).date()}）",
            )
    return None


def parse_campaign(text: str, file: str = "<campaign>") -> Campaign:
    """Parse and check a campaign file's text; raise CampaignError naming the file, key and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(file, "(syntax)", _syntax_reason(str(exc))) from None
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CampaignError(file, _location(err["loc"], data), _reason(err)) from None
    broken = _check_consistency(campaign)
    if broken:
        raise CampaignError(file, *broken)
    return campaign


def load_campaign(path: str | Path) -> Campaign:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CampaignError(str(path), "(file)", "无法读取：找不到这个文件") from None
    except UnicodeDecodeError:
        raise CampaignError(str(path), "(file)", "无法读取：不是 UTF-8 编码的文本（请另存为 UTF-8）") from None
    except OSError as exc:
        raise CampaignError(str(path), "(file)", f"无法读取（{exc.strerror or exc}）") from None
    return parse_campaign(text, str(path))
