"""`kaohe serve` runs on uvloop (a dependency) unless told `--loop asyncio`; it says which in its log."""

import httpx
import pytest

from tests.kaohe_process import KaoheServe, demo_env


@pytest.mark.parametrize("args, loop", [((), "uvloop"), (("--loop", "asyncio"), "asyncio")])
def test_serve_says_which_event_loop_it_runs_on(tmp_path, args, loop):
    server = KaoheServe(tmp_path, demo_env(tmp_path), args=("--no-scheduler", *args))
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"ok": True}
    finally:
        server.stop()
    assert f"event loop: {loop}" in server.log(), server.log()
