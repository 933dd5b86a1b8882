"""Table 1 by chat: `填报` walks the activity counts against their annual targets."""

from __future__ import annotations

from handlers import forms
from handlers.base import Turn
from handlers.guards import clerk_ready
from handlers.router import command, flow


@command("填报", "填表", "填写", "开始填报", "统计表", "表一", roles=("clerk",))
@clerk_ready
def begin(turn: Turn) -> None:
    forms.start(turn, "activity")


@flow("activities")
@clerk_ready
def answer(turn: Turn) -> None:
    forms.step(turn, "activity")
