"""What the dashboard and its API accept for the scoring actions: checked bodies, refusals in Chinese."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from handlers import scoring
from handlers.errors import InputError
from storage.campaign import Campaign
from storage.render import render

if TYPE_CHECKING:
    from sqlmodel import Session


def _storable(value: str) -> str:
    # A lone surrogate or NUL cannot be stored (UTF-8, PostgreSQL text): refused here, not by the database.
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("unstorable")
    return value.strip()


def _no_bool(value):
    # JSON true is not a score: pydantic's lax float would read it as 1.0.
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "not a number")
    return value


Number = Annotated[float, BeforeValidator(_no_bool)]
Text = Annotated[str, Field(max_length=500), AfterValidator(_storable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RoutineIn(_Body):
    score: Number


class ReviewedIn(_Body):
    key: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_storable)]
    points: Number
    reason: Text


class GradeIn(_Body):
    grade: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_storable)]
    reason: Text


class BonusDecisionIn(_Body):
    approve: bool
    reason: Text = ""


def parse(model: type[_Body], data: bytes | dict) -> _Body:
    """The body as `model`, or InputError naming the first field that is wrong, in Chinese."""
    try:
        return model.model_validate_json(data) if isinstance(data, bytes) else model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(render("scoring_refused_field.txt", field=field, type=err["type"])) from None


def set_routine(session: Session, campaign: Campaign, code: str, body: RoutineIn, actor: str, now: datetime):
    rows = [(1, {"code": code, "name": repr(float(body.score))})]
    report = scoring.import_routine_scores(
        session=session, campaign=campaign, rows=rows, actor=actor, source="管理后台", now=now
    )
    if report.refused:
        raise InputError(report.refused[0][1])
    return report


def set_reviewed(session: Session, campaign: Campaign, code: str, body: ReviewedIn, actor: str, now: datetime):
    return scoring.set_reviewed_score(
        session=session,
        campaign=campaign,
        unit_code=code,
        key=body.key,
        points=body.points,
        reason=body.reason,
        actor=actor,
        now=now,
    )


def set_grade(session: Session, campaign: Campaign, code: str, body: GradeIn, actor: str, now: datetime):
    return scoring.override_grade(
        session=session, campaign=campaign, unit_code=code, grade=body.grade, reason=body.reason, actor=actor, now=now
    )


def decide_bonus(session: Session, campaign: Campaign, item_id: int, body: BonusDecisionIn, actor: str, now: datetime):
    return scoring.decide_bonus(
        session=session,
        campaign=campaign,
        item_id=item_id,
        approve=body.approve,
        reason=body.reason,
        actor=actor,
        now=now,
    )
