"""The service's secret key for ballots: KAOHE_SECRET_KEY, or one generated once and kept in a file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings
from storage.secrecy import Keyring

KEY_FILE = "kaohe-secret.key"


def key_file(settings: Settings) -> Path:
    """Beside the SQLite database file (they travel together), else ./var/ of the working directory."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE
    return Path("var") / KEY_FILE


def secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = key_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:  # a hard link never replaces: of two workers starting together, both read the first key
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


def keyring(settings: Settings) -> Keyring:
    return Keyring(secret_key(settings))
