"""What surrounds the data in a message typed like a letter: greetings, thanks, particles and doubts."""

from __future__ import annotations

import re

# Words that carry no entry: said to be polite, not to be read back as "not understood".
_COURTESY = (
    r"各位|尊敬的|领导|老师|同志|主任|书记|您好|你好|大家好|好的|谢谢您?|谢谢啦|多谢|感谢|辛苦了?|麻烦(您|你)?了?"
    r"|打扰了|请查收|请审核|收到|嗯|哦|啊|呀|啦|哈|了|吧|呢|～|~"
)
_ONLY_COURTESY = re.compile(rf"^(?:{_COURTESY}|[\s,，.。!！?？、;；:：])+$")
_EDGE = r"[\s,，.。!！?？、;；:：~～]"
_LEADING_PARTICLES = re.compile(rf"^(?:[吧呢啊呀啦哦嘛了]|左右)+{_EDGE}*")
_TRAILING_COURTESY = re.compile(
    rf"(?:{_EDGE}*(?:谢谢您?|谢谢啦|多谢|感谢|辛苦了?|麻烦(?:您|你)?了?|好的)[!！。.~～]*)+$"
)


_CLAUSE_BREAK = re.compile(r"[,，;；。.!！?？、\n]+")


def unread_parts(fragment: str) -> list[str]:
    """The clauses of a fragment nothing was read from, without greetings and thanks."""
    parts = (part.strip() for part in _CLAUSE_BREAK.split(fragment))
    return [part for part in parts if part and not is_courtesy(part)]


def is_courtesy(fragment: str) -> bool:
    """A greeting or thanks and nothing else (`领导您好！`, `谢谢！谢谢！`)."""
    return bool(_ONLY_COURTESY.match(fragment))


def clean_note(note: str | None) -> str | None:
    """A note without the particle that ended the count's sentence (`12次吧`) or the thanks that closed
    the message; None when nothing is left."""
    if note is None:
        return None
    note = _TRAILING_COURTESY.sub("", _LEADING_PARTICLES.sub("", note))
    note = re.sub(rf"^{_EDGE}+|{_EDGE}+$", "", note)
    return note or None
