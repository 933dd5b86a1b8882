"""`kaohe outbox`: what the outbox holds (status, attempts, last error) and an operator's resend of what failed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import select

from storage import campaigns, outbox, roster
from storage.db import Database
from storage.models import Outbox
from storage.render import render

STATUSES = ("pending", "sending", "sent", "failed", "expired")
NAMED = 3  # recipients named per row; the rest are counted


class OutboxError(Exception):
    """A request the outbox cannot act on, said in one line."""


def outbox_listing(db: Database, statuses: list[str] | None = None, limit: int = 50) -> str:
    """The newest rows (of some statuses), each with recipients, attempts, next try or delivery, last error."""
    unknown = [s for s in statuses or [] if s not in STATUSES]
    if unknown:
        raise OutboxError(f"--status 只能是 {'、'.join(STATUSES)} 之一，不能是 {unknown[0]!r}")
    with db.read() as session:
        campaign = campaigns.active_campaign(session=session)
        names = {p.userid: p.name for p in roster.people(session=session)}
        totals = Counter(dict(session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all()))
        rows = outbox.listing(session=session, statuses=statuses, limit=limit)
    tz = campaign.tz if campaign else UTC
    return render(
        "outbox_list.txt",
        totals=[(s, totals.get(s, 0)) for s in STATUSES],
        rows=[_row(r, names, tz) for r in rows],
        tz=str(tz),
        limit=limit,
    )


def _row(row: Outbox, names: dict[str, str], tz) -> dict:
    who = [names.get(u, u) for u in row.recipients[:NAMED]]
    return {
        "r": row,
        "who": who,
        "more": max(0, len(row.recipients) - NAMED),
        "refused": [names.get(u, u) for u in row.rejected or []],
        "next": row.next_attempt_at.astimezone(tz),
        "sent": row.sent_at.astimezone(tz) if row.sent_at else None,
        "expires": row.expires_at.astimezone(tz) if row.expires_at else None,
    }


def retry_rows(db: Database, ids: list[str], failed: bool, now: datetime) -> list[str]:
    """Queue rows again: failed or expired ones in place, the refused recipients of a sent one in a new row.
    Returns one line per row; OutboxError when nothing could be queued."""
    if failed == bool(ids):
        raise OutboxError("请给出消息编号（如 kaohe outbox retry 12 15）或 --failed，二者选一")
    wanted = [_parse_id(i) for i in ids]
    with db.write() as session:
        if failed:
            wanted = outbox.ids_with_status(session=session, status="failed")
        lines = [_retry_one(session, outbox_id, now) for outbox_id in wanted]
    if not any(line.startswith("已重新排队") for line in lines):
        raise OutboxError("；".join(lines) if lines else "没有失败的消息")
    return lines


def _retry_one(session, outbox_id: int, now: datetime) -> str:
    row = session.get(Outbox, outbox_id)
    if row is None:
        return f"#{outbox_id}：没有这条消息"
    status, refused = row.status, list(row.rejected or [])
    again = outbox.retry(session=session, outbox_id=outbox_id, now=now)
    if again is None:
        return f"#{outbox_id}：状态为 {status}，没有可重发的内容"
    if again.id != outbox_id:
        return f"已重新排队 #{outbox_id} 中未送达的 {len(refused)} 人，新消息 #{again.id}"
    return f"已重新排队 #{outbox_id}（原为 {status}），一天内未送达则过期"


def _parse_id(text: str) -> int:
    value = text.lstrip("#")
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise OutboxError(f"{text!r} 不是消息编号（用 kaohe outbox 列出的数字）")
    return int(value)
