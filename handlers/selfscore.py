"""Table 2 by chat: `自评` walks the self-score category by category against each maximum."""

from __future__ import annotations

from handlers import forms
from handlers.base import Turn
from handlers.guards import clerk_ready
from handlers.router import command, flow


@command("自评", "自查", "评分", "自评分", "打分", "表二", roles=("clerk",))
@clerk_ready
def begin(turn: Turn) -> None:
    forms.start(turn, "score")


@flow("scores")
@clerk_ready
def answer(turn: Turn) -> None:
    forms.step(turn, "score")
