"""The demo of `make run`: the 2013 campaign moved so that today falls inside self-check, and the sample roster."""

from __future__ import annotations

import os
import re
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

from storage.campaign import DEFAULT_CAMPAIGN, parse_campaign

SAMPLE_ROSTER = Path(__file__).resolve().parent.parent / "samples" / "roster"
DAYS_INTO_SELF_CHECK = 3
DEMO_KEYS = ("demo_soon", "demo_liaison")
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def demo_campaign_text(now: datetime, source: Path = DEFAULT_CAMPAIGN) -> str:
    """The campaign file's text with every date shifted by whole days, and two reminders a few minutes
    from `now`, so a newcomer sees one arrive in the simulator."""
    text = source.read_text(encoding="utf-8")
    campaign = parse_campaign(text, str(source))
    today = now.astimezone(campaign.tz).date()
    shift = today - DAYS_INTO_SELF_CHECK * timedelta(days=1) - campaign.phase("self_check").start
    text = _DATE.sub(lambda m: (date(*map(int, m.groups())) + shift).isoformat(), text)
    text = text.replace(f'id = "{campaign.id}"', f'id = "{campaign.id}-demo"', 1)
    return text + _soon_reminders(now.astimezone(campaign.tz))


def _soon_reminders(local_now: datetime) -> str:
    soon = [(DEMO_KEYS[0], 2, "clerks_not_submitted"), (DEMO_KEYS[1], 3, "liaison_officers")]
    blocks = []
    for key, minutes, audience in soon:
        at = (local_now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")
        # A key per start, so a second `make run` shows a reminder arrive again.
        stamped = f"{key}_{local_now:%m%d%H%M}"
        blocks.append(
            f'\n[[reminders]]\nkey = "{stamped}"\nat = "{at}"\naudience = "{audience}"\nabout = "self_check"\n'
        )
    return "\n# Demo only: reminders a few minutes after start-up." + "".join(blocks)


AUDIENCE_NAMES = {"clerks_not_submitted": "未提交单位的填报员", "liaison_officers": "联络员"}


def demo_reminder_lines(campaign, now: datetime) -> list[str]:
    """When the demo's own reminders arrive, in the campaign's zone, so a newcomer knows when to look."""
    soon = [r for r in campaign.reminders if r.key.startswith(DEMO_KEYS)]
    lines = []
    for r in sorted(soon, key=campaign.reminder_time):
        at = campaign.local(campaign.reminder_time(r))
        minutes = max(0, round((at - now).total_seconds() / 60))
        who = AUDIENCE_NAMES.get(r.audience, r.audience)
        lines.append(
            f"演示提醒：{at:%H:%M}（{campaign.campaign.timezone}，约 {minutes} 分钟后）发给{who}，在模拟器右栏可以看到"
        )
    return lines


def demo_admin_token(path: Path) -> str:
    """The demo's own admin token: made once at random and kept in `path` (readable by its owner only), so
    the dashboard of `make run` can be logged into. Never a default of the service's settings."""
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token
