"""Local times as people write them in messages: 12月27日 17:00, and midnight as 24:00 of the day before."""

from __future__ import annotations

from datetime import datetime, timedelta


def shown(moment: datetime, *, end: bool = True) -> dict:
    """`end`: the moment something stops, so midnight reads as 24:00 of the day before."""
    if end and moment.hour == 0 and moment.minute == 0:
        before = moment - timedelta(days=1)
        return {"month": before.month, "day": before.day, "hm": "24:00"}
    if not end and moment.hour == 0 and moment.minute == 0:
        return {"month": moment.month, "day": moment.day, "hm": ""}  # a day that begins: 12月23日
    return {"month": moment.month, "day": moment.day, "hm": moment.strftime("%H:%M")}
