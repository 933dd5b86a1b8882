"""Documents sent as files in the chat: `导出`, `结果通报` (administrator), `本组导出` (liaison), `自查总结` (clerk)."""

from __future__ import annotations

from handlers.base import Turn
from handlers.documents import Document, results_announcement, self_check_summary
from handlers.export import city_workbook, group_workbook
from handlers.guards import clerk_ready, needs_campaign
from handlers.router import command
from storage import roster


def send(turn: Turn, doc: Document, what: str) -> None:
    turn.send_file(doc.name, doc.media_type, doc.data)
    turn.say("file_sent.txt", what=what, name=doc.name, size_kb=max(1, len(doc.data) // 1024))


@command("导出", "导出表格", "下载表格", roles=("admin",), heavy=True)
@needs_campaign
def export_city(turn: Turn) -> None:
    send(turn, city_workbook(session=turn.session, campaign=turn.campaign, now=turn.now), "全市考核表")


@command("结果通报", "考核结果通报", "通报", roles=("admin",), heavy=True)
@needs_campaign
def announcement(turn: Turn) -> None:
    doc = results_announcement(session=turn.session, campaign=turn.campaign, now=turn.now)
    send(turn, doc, "考核结果通报（草稿）")


@command("本组导出", "导出", "导出表格", roles=("liaison",), heavy=True)
@needs_campaign
def export_group(turn: Turn) -> None:
    group = roster.group(session=turn.session, group_id=turn.person.group_id) if turn.person.group_id else None
    if group is None:
        return turn.say("no_group.txt", name=turn.person.name)
    doc = group_workbook(session=turn.session, campaign=turn.campaign, group=group, now=turn.now)
    send(turn, doc, f"{group.name}考核表")


@command("自查总结", "总结", "下载总结", roles=("clerk",), heavy=True)
@clerk_ready
def summary(turn: Turn) -> None:
    doc = self_check_summary(session=turn.session, campaign=turn.campaign, unit=turn.unit, now=turn.now)
    send(turn, doc, "自查总结（草稿）")
