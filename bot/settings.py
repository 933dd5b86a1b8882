"""Settings from the environment and `.env`, checked at start-up: a bad value names its variable."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.campaign import DEFAULT_CAMPAIGN

_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")
_SCHEMES = {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}


class SettingsError(ValueError):
    """One line naming the variable that is wrong and why."""


class Settings(BaseSettings):
    # No populate_by_name: pydantic-settings would then also read the bare field names from the
    # environment, so a host's generic TOKEN, SECRET or DATABASE_URL would configure the service.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field("sqlite:///./var/kaohe.db", validation_alias="KAOHE_DATABASE_URL")
    # None: not set, the shipped campaign; a start treats the two differently (operations.start_campaign).
    campaign: str | None = Field(None, validation_alias="KAOHE_CAMPAIGN")
    admin_token: str | None = Field(None, validation_alias="KAOHE_ADMIN_TOKEN")
    corp_id: str | None = Field(None, validation_alias="WECOM_CORP_ID")
    agent_id: int | None = Field(None, validation_alias="WECOM_AGENT_ID")
    secret: str | None = Field(None, validation_alias="WECOM_SECRET")
    token: str | None = Field(None, validation_alias="WECOM_TOKEN")
    aes_key: str | None = Field(None, validation_alias="WECOM_AES_KEY")
    bot_token: str | None = Field(None, validation_alias="WECOM_BOT_TOKEN")
    bot_aes_key: str | None = Field(None, validation_alias="WECOM_BOT_AES_KEY")
    api_base: str = Field("https://qyapi.weixin.qq.com/cgi-bin/", validation_alias="WECOM_API_BASE")
    max_age_s: int = Field(600, ge=0, validation_alias="WECOM_MAX_AGE_S")
    body_timeout_s: float = Field(15, gt=0, le=3600, validation_alias="KAOHE_BODY_TIMEOUT_S")
    # a request's line and headers must be whole this long after connecting or the last answer (bot/http_guard.py)
    header_timeout_s: float = Field(10, gt=0, le=3600, validation_alias="KAOHE_HEADER_TIMEOUT_S")
    secret_key: str | None = Field(None, validation_alias="KAOHE_SECRET_KEY")
    # message/send calls in flight at once per sender process: WeCom answers 45033 past its concurrency limit
    # (about 10 a second by community reports, wecom.md §3.2), so at most 10 and 4 by default.
    send_workers: int = Field(4, ge=1, le=10, validation_alias="KAOHE_SEND_WORKERS")
    # callback messages handled together in one transaction when they arrive at once (1: each alone)
    turn_batch: int = Field(32, ge=1, le=1000, validation_alias="KAOHE_TURN_BATCH")
    # those transactions run on the event loop's thread: on SQLite when they need not wait, on PostgreSQL
    # awaiting the server (bot/lane.py)
    turn_on_loop: bool = Field(True, validation_alias="KAOHE_TURN_ON_LOOP")
    # PostgreSQL: that many of them at once, each with other people's messages
    turn_flights: int = Field(2, ge=1, le=8, validation_alias="KAOHE_TURN_FLIGHTS")
    # freeze the long-lived heap so the garbage collector's full passes stay short (bot/heap.py)
    gc_freeze: bool = Field(True, validation_alias="KAOHE_GC_FREEZE")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        try:
            scheme = make_url(value).drivername
        except ArgumentError:
            raise ValueError("not a database URL (sqlite:///… or postgresql+psycopg://…)") from None
        if scheme not in _SCHEMES:
            raise ValueError(f"unsupported scheme {scheme!r}: use sqlite:///… or postgresql+psycopg://…")
        return value.replace("postgresql://", "postgresql+psycopg://", 1)

    @field_validator("aes_key", "bot_aes_key")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value and not _AES_KEY.fullmatch(value):
            raise ValueError(f"must be 43 letters or digits (got {len(value)} characters)")
        return value or None

    @field_validator("token", "bot_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value and not _TOKEN.fullmatch(value):
            raise ValueError("must be 1 to 32 letters or digits")
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value and len(value) < 32:
            raise ValueError(f"must be at least 32 characters (got {len(value)})")
        return value or None

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @property
    def campaign_file(self) -> Path:
        return Path(self.campaign) if self.campaign else DEFAULT_CAMPAIGN

    @property
    def campaign_explicit(self) -> bool:
        return bool(self.campaign)

    @property
    def app_enabled(self) -> bool:
        return bool(self.corp_id and self.token and self.aes_key)

    @property
    def sending_enabled(self) -> bool:
        return bool(self.corp_id and self.secret and self.agent_id is not None)

    @property
    def bot_enabled(self) -> bool:
        return bool(self.bot_token and self.bot_aes_key)


_ENV_NAMES = {
    "database_url": "KAOHE_DATABASE_URL",
    "campaign": "KAOHE_CAMPAIGN",
    "admin_token": "KAOHE_ADMIN_TOKEN",
    "corp_id": "WECOM_CORP_ID",
    "agent_id": "WECOM_AGENT_ID",
    "secret": "WECOM_SECRET",
    "token": "WECOM_TOKEN",
    "aes_key": "WECOM_AES_KEY",
    "bot_token": "WECOM_BOT_TOKEN",
    "bot_aes_key": "WECOM_BOT_AES_KEY",
    "api_base": "WECOM_API_BASE",
    "max_age_s": "WECOM_MAX_AGE_S",
    "body_timeout_s": "KAOHE_BODY_TIMEOUT_S",
    "header_timeout_s": "KAOHE_HEADER_TIMEOUT_S",
    "secret_key": "KAOHE_SECRET_KEY",
    "send_workers": "KAOHE_SEND_WORKERS",
    "turn_batch": "KAOHE_TURN_BATCH",
    "turn_on_loop": "KAOHE_TURN_ON_LOOP",
    "turn_flights": "KAOHE_TURN_FLIGHTS",
    "gc_freeze": "KAOHE_GC_FREEZE",
}


def load_settings(**overrides) -> Settings:
    """Read and check the settings; raise SettingsError with one line naming the variable."""
    try:
        settings = Settings(**{_ENV_NAMES.get(k, k): v for k, v in overrides.items()})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = next((str(p) for p in err["loc"] if str(p) in _ENV_NAMES), str(err["loc"][0]) if err["loc"] else "?")
        name = _ENV_NAMES.get(field.lower(), next((v for k, v in _ENV_NAMES.items() if v == field), field))
        raise SettingsError(f"{name}: {err['msg'].removeprefix('Value error, ')}") from None
    _check_groups(settings)
    return settings


# Variables that only make sense together: a channel is either wholly configured or off.
_GROUPS = (
    ("the app callback", ("corp_id", "token", "aes_key")),
    ("sending", ("corp_id", "secret", "agent_id")),
    ("the group chat bot", ("bot_token", "bot_aes_key")),
)


def _check_groups(settings: Settings) -> None:
    for what, fields in _GROUPS:
        present = [f for f in fields if getattr(settings, f) not in (None, "")]
        if present == ["corp_id"]:
            continue  # a corp id alone serves whichever of the two app groups is configured
        if present and len(present) < len(fields):
            missing = next(f for f in fields if f not in present)
            raise SettingsError(
                f"{_ENV_NAMES[missing]}: required for {what} when {', '.join(_ENV_NAMES[f] for f in present)} is set"
            )
