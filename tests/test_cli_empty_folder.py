import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from storage.campaign import DEFAULT_CAMPAIGN, load_campaign
from tests.conftest import KAOHE
from tests.kaohe_process import without

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


@pytest.fixture
def kaohe_here(folder):
    """`kaohe` run in an empty folder with nothing configured: the default database is ./var/kaohe.db."""

    def run(*args, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAOHE_", "WECOM_"))}
        clean.update({"PYTHONIOENCODING": "utf-8", **(env or {})})
        return subprocess.run(
            [str(KAOHE), *map(str, args)],
            input=input,
            capture_output=True,
            encoding="utf-8",
            env=clean,
            cwd=folder,
            timeout=60,
        )

    return run


def one_chinese_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith("kaohe：") and CHINESE.search(lines[0]) and "Traceback" not in result.stderr
    return lines[0]


def test_db_upgrade_in_an_empty_folder_creates_var_and_the_database(kaohe_here, folder):
    result = kaohe_here("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (folder / "var" / "kaohe.db").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ("campaign", "show"),
        ("export", "--format", "json"),
        ("audit",),
        ("chat", "--as", "wangfang"),
        ("serve", "--port", "0"),
    ],
)
def test_a_command_on_a_missing_database_fails_in_one_line_and_creates_nothing(kaohe_here, folder, args):
    line = one_chinese_line(kaohe_here(*args))
    assert "kaohe db upgrade" in line
    assert list(folder.iterdir()) == []


def test_campaign_load_of_a_missing_file_is_one_line(kaohe_here):
    kaohe_here("db", "upgrade")
    assert "nothere.toml" in one_chinese_line(kaohe_here("campaign", "load", "nothere.toml"))


def test_an_unreachable_database_server_is_one_line(kaohe_here):
    url = "postgresql+psycopg://kaohe:x@127.0.0.1:9/kaohe"
    assert "OperationalError" in one_chinese_line(kaohe_here("campaign", "show", env={"KAOHE_DATABASE_URL": url}))


@pytest.mark.parametrize(
    "args, env",
    [
        (("campaign", "show"), {"KAOHE_DATABASE_URL": "mysql://x"}),
        (("export", "--format", "pdf"), {}),
        (("reminders", "--at", "tomorrow"), {}),
        (("outbox", "--limit", "0"), {}),
        (("outbox", "retry", "abc"), {}),
        (("campaign", "show"), {}),
        (("votes", "--format", "xml"), {}),
    ],
)
def test_operator_errors_speak_one_voice(kaohe_here, args, env):
    kaohe_here("db", "upgrade")
    one_chinese_line(kaohe_here(*args, env=env))


def test_chat_keeps_log_lines_out_of_the_conversation(kaohe_here):
    kaohe_here("demo")
    # A WeCom app that cannot be reached: each failed send logs a warning, which must not land in the chat.
    wecom = {"WECOM_CORP_ID": "ww0123456789abcdef", "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "s3cret"}
    wecom["WECOM_API_BASE"] = "http://127.0.0.1:9/"
    result = kaohe_here("chat", "--as", "hulin", input="催办\n本组进度\n", env=wecom)
    assert result.returncode == 0, result.stderr
    assert "已催办" in result.stdout and "第一联络组" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr and " INFO " not in result.stdout + result.stderr


def test_demo_says_when_its_reminders_will_arrive_in_the_campaigns_zone(kaohe_here, folder):
    before = datetime.now(UTC)
    result = kaohe_here("demo")
    campaign = load_campaign(folder / "var" / "demo-campaign.toml")
    demo = [r for r in campaign.reminders if r.key.startswith("demo_")]
    assert len(demo) == 2
    for r in demo:
        at = campaign.local(campaign.reminder_time(r))
        assert timedelta(0) < at - before <= timedelta(minutes=4)
        assert f"演示提醒：{at:%H:%M}（Asia/Shanghai" in result.stdout
    assert "发给未提交单位的填报员" in result.stdout and "发给联络员" in result.stdout


def test_the_shipped_campaign_still_loads(kaohe_here):
    assert "数据库结构已是最新" in kaohe_here("db", "upgrade").stdout
    result = kaohe_here("campaign", "load", DEFAULT_CAMPAIGN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("已载入并启用：luoyang-2013 ")
    again = kaohe_here("campaign", "load", DEFAULT_CAMPAIGN)  # the administrator is told nothing changed
    assert again.returncode == 0 and again.stdout.startswith("与已启用的相同，未改动：luoyang-2013 ")


@pytest.mark.parametrize(
    "args, said",
    [
        (("campaign", "load"), "缺少参数 FILE，用「kaohe campaign load --help」查看用法"),
        (("chat",), "缺少参数 --as，"),
        (("nosuch",), "没有 nosuch 这个命令，用「kaohe --help」查看用法"),
        (("export", "--bogus"), "没有 --bogus 这个选项，用「kaohe export --help」查看用法"),
        (("export", "--format"), "--format 后面要跟一个值"),
        (("serve", "--port", "abc"), "--port 应为整数"),
        (("serve", "--loop", "fast"), "--loop 只能是 auto、uvloop 或 asyncio，不是「fast」"),
        (("serve", "--http", "llhttp"), "--http 只能是 auto、httptools 或 h11，不是「llhttp」"),
        (("export", "--format", "json", "extra"), "命令用法不对（"),
    ],
)
def test_a_usage_mistake_is_one_chinese_line_with_where_to_look(kaohe_here, args, said):
    # click's own answer is a framed block of English on several lines
    result = kaohe_here(*args)
    assert said in one_chinese_line(result) and result.returncode == 2


@pytest.mark.parametrize("args", [(), ("campaign",), ("roster",), ("outbox",), ("db",), ("scores",)])
def test_help_describes_every_command_in_chinese(kaohe_here, args):
    # where a usage mistake points the administrator (「kaohe … --help」)
    result = kaohe_here(*args, "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    box = result.stdout.split("Commands")[1] if "Commands" in result.stdout else ""
    rows = [line.strip("│ ").split(None, 1) for line in box.splitlines() if line.startswith("│")]
    assert rows and all(len(row) == 2 and CHINESE.search(row[1]) for row in rows), result.stdout


@pytest.mark.parametrize(
    "module, args, said",
    [
        ("uvloop", ("--loop", "uvloop"), "这台机器没有装 uvloop：用 --loop asyncio"),
        ("httptools", ("--http", "httptools"), "这台机器没有装 httptools：用 --http h11"),
    ],
)
def test_serve_on_a_library_that_cannot_be_imported_says_so_in_one_line(kaohe_here, tmp_path, module, args, said):
    # a Python without it (uvloop on Windows, or a hand-made install)
    result = kaohe_here("serve", *args, env={"PYTHONPATH": without(tmp_path, module)})
    assert said in one_chinese_line(result) and result.returncode == 2
