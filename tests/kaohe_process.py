"""A real `kaohe serve` in a subprocess on an ephemeral loopback port, for tests that need the whole stack."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from tests.conftest import KAOHE
from tests.wecom_bot_side import BOT_KEY, BOT_TOKEN
from tests.wecom_client_side import AES_KEY, CORP_ID, TOKEN

_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
CALLBACK_ENV = {
    "WECOM_CORP_ID": CORP_ID,
    "WECOM_TOKEN": TOKEN,
    "WECOM_AES_KEY": AES_KEY,
    "WECOM_BOT_TOKEN": BOT_TOKEN,
    "WECOM_BOT_AES_KEY": BOT_KEY,
}


class KaoheServe:
    def __init__(self, cwd: Path, env: dict[str, str], name: str = "serve", args: tuple[str, ...] = ()):
        self.cwd, self.log_path = cwd, cwd / f"{name}.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
        clean.update(env)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(KAOHE), "serve", "--host", "127.0.0.1", "--port", "0", *args],
                env=clean,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.port = self._wait_for_port()

    def _wait_for_port(self, within_s: float = 60) -> int:
        give_up = time.monotonic() + within_s
        while time.monotonic() < give_up:
            found = _PORT.search(self.log())
            if found:
                return int(found[1])
            if self.process.poll() is not None:
                raise RuntimeError(f"kaohe serve exited {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"kaohe serve did not start:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(20)


def run_kaohe(cwd: Path, database_url: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
    clean.update({"KAOHE_DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8", **(env or {})})
    return subprocess.run(
        [str(KAOHE), *map(str, args)], capture_output=True, encoding="utf-8", env=clean, cwd=cwd, timeout=120
    )


def demo_env(tmp_path: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """`kaohe demo` into tmp_path (its SQLite file, or the database `url`, and its campaign), and the
    environment of a `kaohe serve` on them with both callbacks configured, plus `extra`."""
    url = url or f"sqlite:///{tmp_path / 'kaohe.db'}"
    made = run_kaohe(tmp_path, url, "demo", "--campaign-out", tmp_path / "demo.toml")
    assert made.returncode == 0, made.stderr
    return {**CALLBACK_ENV, "KAOHE_DATABASE_URL": url, "KAOHE_CAMPAIGN": str(tmp_path / "demo.toml"), **extra}


def without(tmp_path: Path, module: str) -> str:
    """A PYTHONPATH under which `module` cannot be imported (a sitecustomize sets sys.modules[module] to
    None), as on a Python that lacks it: for a `kaohe` subprocess's environment."""
    shim = tmp_path / f"no_{module}"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    return str(shim)
