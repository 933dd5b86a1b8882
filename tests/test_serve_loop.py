"""`kaohe serve` runs on uvloop and httptools (dependencies) unless told `--loop asyncio` or `--http h11`, and
on h11 where httptools cannot be imported; it says which in its log."""

import httpx
import pytest

from tests.kaohe_process import KaoheServe, demo_env, without


@pytest.mark.parametrize("args, loop", [((), "uvloop"), (("--loop", "asyncio"), "asyncio")])
def test_serve_says_which_event_loop_it_runs_on(tmp_path, args, loop):
    server = KaoheServe(tmp_path, demo_env(tmp_path), args=("--no-scheduler", *args))
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"ok": True}
    finally:
        server.stop()
    assert f"event loop: {loop}" in server.log(), server.log()


@pytest.mark.parametrize(
    "args, shim, http", [((), False, "httptools"), ((), True, "h11"), (("--http", "h11"), False, "h11")]
)
def test_serve_says_which_http_parser_it_runs_and_falls_back_to_h11(tmp_path, args, shim, http):
    env = demo_env(tmp_path)
    if shim:  # a Python without httptools
        env["PYTHONPATH"] = without(tmp_path, "httptools")
    server = KaoheServe(tmp_path, env, args=("--no-scheduler", *args))
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"ok": True}
    finally:
        server.stop()
    assert f"http: {http}, a request's head within" in server.log(), server.log()
