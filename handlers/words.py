"""The small words people answer with, in one place: confirm, refuse, go back, skip, cancel, help."""

import re
import unicodedata
from datetime import timedelta
from functools import lru_cache

YES = {"确认", "是", "对", "好", "是的", "好的", "确定", "可以", "ok", "yes", "y"}
NO = {"修改", "否", "不", "不对", "不是", "no", "n"}
BACK = {"上一步", "上一个", "返回", "上一题", "back"}
SKIP = {"跳过", "下一步", "下一个", "略过", "skip"}
CANCEL = {"取消", "退出", "算了", "不填了", "cancel", "q"}
HELP = {"帮助", "help", "?", "菜单", "怎么用", "说明"}
CONFIRM_TTL = timedelta(minutes=30)  # how long a read-back waits for 确认
_TRIM = re.compile(r"^[\s，。！？,.!?、~～]+|[\s，。！？,.!?、~～]+$")


def normalise_command(text: str) -> str:
    """What a keyword comparison sees: NFKC (full-width to half-width), no edge punctuation, lower case."""
    if len(text) <= 32:  # asked three or four times a turn, of the same short texts: remembered
        return _short_command(text)
    return _normalise(text)


@lru_cache(maxsize=4096)
def _short_command(text: str) -> str:
    return _normalise(text)


def _normalise(text: str) -> str:
    return _TRIM.sub("", unicodedata.normalize("NFKC", text)).lower()
