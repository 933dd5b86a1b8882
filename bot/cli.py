"""The `kaohe` command: serve, scheduler, db, campaign, roster, scores, results, chat, export, reminders, audit,
outbox, demo."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.settings import Settings, SettingsError, load_settings
from storage.campaign import CampaignError

NOT_CURRENT = "数据库结构不是最新的：请先运行 `kaohe db upgrade`"
NO_CAMPAIGN = "没有进行中的考核：请先运行 `kaohe campaign load FILE`"

app = typer.Typer(
    help="考核助手 kaohe：在企业微信里完成年终党建目标绩效考核。",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="数据库结构。", no_args_is_help=True)
campaign_app = typer.Typer(help="考核文件。", no_args_is_help=True)
roster_app = typer.Typer(help="单位和人员名单。", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")
scores_app = typer.Typer(help="平时成绩。", no_args_is_help=True)
app.add_typer(roster_app, name="roster")
app.add_typer(scores_app, name="scores")


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, in the operator's one voice (Chinese, after `kaohe：`), and a non-zero exit."""
    typer.echo(message if message.startswith("kaohe") else f"kaohe：{message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(f"配置有误：{exc}")


def _db(s: Settings, *, migrated: bool = True):
    """The database; unless told otherwise, one whose schema is current (else one line, not a traceback).
    A SQLite file that does not exist yet is not created by a command that only reads it."""
    from bot.operations import missing_sqlite_file, schema_is_current
    from storage.db import Database

    if migrated and missing_sqlite_file(s.database_url):
        fail(f"数据库 {missing_sqlite_file(s.database_url)} 还不存在：请先运行 `kaohe db upgrade`")
    db = Database(s.database_url)
    if migrated and not schema_is_current(db):
        fail(NOT_CURRENT)
    return db


@db_app.command("upgrade", help="创建数据库，或把它的结构升级到最新。")
def db_upgrade() -> None:
    """Create or migrate the database schema."""
    from storage.migrate import upgrade

    s = settings()
    upgrade(s.database_url)
    typer.echo(f"数据库结构已是最新：{s.database_url.split('@')[-1]}")


@campaign_app.command("load", help="检查考核文件（TOML），通过后把它设为启用的考核。")
def campaign_load(file: Path) -> None:
    """Check a campaign file and make it the active campaign."""
    from bot.operations import load_campaign_file

    s = settings()
    try:
        campaign, changed = load_campaign_file(_db(s), file)
    except CampaignError as exc:
        fail(f"考核文件未通过检查：{exc}")
    typer.echo(f"{'已载入并启用' if changed else '与已启用的相同，未改动'}：{campaign.id} {campaign.campaign.title}")


@campaign_app.command("show", help="显示启用的考核：阶段、两张表、提醒。")
def campaign_show() -> None:
    """Print the active campaign."""
    from storage import campaigns
    from storage.render import render

    with _db(settings()).read() as session:
        campaign = campaigns.active_campaign(session=session)
    if campaign is None:
        fail(NO_CAMPAIGN, 1)
    typer.echo(render("campaign_show.txt", c=campaign))


@roster_app.command(
    "import", help="从 CSV 或 XLSX 导入单位和人员名单；列出新增、更新、未变、拒绝（带行号）、停用和恢复。"
)
def roster_import(units: Path, people: Path) -> None:
    """Import units and people from CSV or XLSX; prints added, changed and refused rows."""
    from bot.operations import import_roster_files
    from handlers.roster_import import ImportFileError

    try:
        reports = import_roster_files(_db(settings()), units, people)
    except ImportFileError as exc:
        fail(f"导入失败：{exc}")
    for report in reports:
        typer.echo("\n".join(report.lines()))


@scores_app.command("import", help="从 CSV 或 XLSX 导入平时成绩（列：单位编码、平时成绩）；有一行被拒就一行也不写入。")
def scores_import(file: Path) -> None:
    """Routine scores from CSV or XLSX (单位编码, 平时成绩); one refused row and nothing is written."""
    from bot.operations import import_routine_file
    from handlers.roster_import import ImportFileError

    try:
        report = import_routine_file(_db(settings()), file)
    except (ImportFileError, RuntimeError) as exc:
        fail(f"导入失败：{exc}")
    typer.echo("\n".join(report.lines()))
    if report.refused:
        fail("有被拒绝的行，未导入任何成绩；改正后重新导入", 1)


@app.command(help="每个单位的年终得分、平时成绩、批准的加分、总分、建议等次和评定等次，以及改动的理由。")
def results(format: str = typer.Option("text", "--format", help="text、json 或 csv")) -> None:
    """Per unit: year-end, routine, approved bonus, final score, proposed and decided grade, with reasons."""
    from handlers.results_export import ResultsError, results_bytes

    try:
        data = results_bytes(_db(settings()), format)
    except ResultsError as exc:
        fail(str(exc))
    sys.stdout.write(data.decode("utf-8"))


@app.command(help="在终端里以某人的身份和机器人对话。")
def chat(as_: str = typer.Option(..., "--as", help="以哪个企业微信账号的身份对话")) -> None:
    """Chat with the bot in the terminal as that person."""
    from bot.channels.console import run_console
    from bot.services import build_services
    from storage import roster

    s = settings()
    db = _db(s)  # an unmigrated database is refused before the first message
    with db.read() as session:
        known = roster.person(session=session, userid=as_) is not None
    db.dispose()
    if not known:
        fail(f"名单里没有 {as_}：请用名单里的企业微信账号（如 wangfang），或先运行 `kaohe roster import`", 1)
    logging.getLogger().setLevel(logging.ERROR)  # the terminal is the chat: routine log lines stay out of it
    run_console(build_services(s), as_, sys.stdin, sys.stdout)


@app.command(help="导出填好的考核表（xlsx 为通知附件的格式）。")
def export(
    format: str = typer.Option("json", "--format", help="xlsx、csv 或 json"),
    output: Path | None = typer.Option(None, "-o", "--output", help="写入的文件（不写则输出到终端）"),
) -> None:
    """The filled tables."""
    from handlers.export import ExportError, export_tables

    if format == "xlsx" and output is None:
        fail("xlsx 是二进制文件：请用 -o FILE 写入文件")
    try:
        data = export_tables(_db(settings()), format)
    except ExportError as exc:
        fail(str(exc))
    if output:
        output.write_bytes(data)
        typer.echo(f"已写入：{output}")
    else:
        sys.stdout.write(data.decode("utf-8"))


@app.command(help="启动网页服务（回调、模拟器、管理页面）；除非加 --no-scheduler，也在本进程里发提醒。")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="提醒交给 `kaohe scheduler` 发"),
    workers: int = typer.Option(1, help="网页进程数（多于一个时请用 PostgreSQL）"),
    loop: str = typer.Option("auto", help="事件循环：auto（装了 uvloop 就用它）、uvloop 或 asyncio"),
    http: str = typer.Option("auto", help="HTTP 解析：auto（装了 httptools 就用它）、httptools 或 h11"),
) -> None:
    """The web service; runs the reminder scheduler in-process unless told not to."""
    import uvicorn

    if loop not in ("auto", "uvloop", "asyncio"):
        fail(f"--loop 只能是 auto、uvloop 或 asyncio，不是「{loop}」")
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401  (uvicorn imports it itself; a missing one is a traceback there)
        except ImportError:
            fail("这台机器没有装 uvloop：用 --loop asyncio，或先 pip install uvloop")

    from bot.http_guard import httptools_installed, protocol

    if http not in ("auto", "httptools", "h11"):
        fail(f"--http 只能是 auto、httptools 或 h11，不是「{http}」")
    if http == "httptools" and not httptools_installed():
        fail("这台机器没有装 httptools：用 --http h11，或先 pip install httptools")
    parser = protocol(http)
    s = settings()
    _prepare(s)
    if workers > 1:
        if not no_scheduler:
            fail("多个 worker 时请用 `kaohe serve --no-scheduler`，另起一个 `kaohe scheduler`")
        uvicorn.run("bot.asgi:app", host=host, port=port, workers=workers, factory=True, http=parser, loop=loop)
        return
    from bot.app import create_app

    uvicorn.run(create_app(s, scheduler=not no_scheduler), host=host, port=port, http=parser, loop=loop)


@app.command(help="只运行提醒和发送队列，用于多个网页进程的部署。")
def scheduler() -> None:
    """The reminder scheduler and outbox sender alone, for deployments with several web workers."""
    from bot.scheduler import run_forever

    s = settings()
    _prepare(s)
    run_forever(s)


@app.command(help="哪些提醒到期了（或在 --at 那个时间会到期）、发给谁、哪些已发出。")
def reminders(at: str | None = typer.Option(None, "--at", help="ISO 时间，例如 2013-12-16T09:10+08:00")) -> None:
    """Which reminders are due (or would be at that time), to whom, and which were sent."""
    from bot.secret_key import keyring
    from schedules.report import reminders_report

    moment = _parse_time(at) if at else datetime.now(UTC)
    s = settings()
    typer.echo(reminders_report(_db(s), moment, keyring=keyring(s)))


@app.command(help="每一次民主推荐：联络组、类别、状态、投票人数，结束后的票数（从不显示谁投了谁）。")
def votes(format: str = typer.Option("text", "--format", help="text 或 json")) -> None:
    """Every recommendation vote: group, kind, status, turnout, and the counts once closed (never who chose whom)."""
    import json

    from handlers.vote_report import votes_overview
    from storage.render import render

    if format not in ("text", "json"):
        fail(f"--format 只能是 text 或 json，不能是 {format!r}")
    rows = votes_overview(_db(settings()))
    if format == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        typer.echo(render("votes_report.txt", rows=rows))


@app.command(help="修改记录：谁在什么时间（考核所在时区）把什么从什么改成了什么。")
def audit(
    unit: str | None = typer.Option(None, "--unit", help="单位编码，例如 U01（不写则所有单位）"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="最近的多少条修改"),
) -> None:
    """The audit trail: who changed what, from what, to what, when (in the campaign's zone)."""
    from handlers.audit_view import audit_rows
    from storage import campaigns, roster
    from storage.render import render

    with _db(settings()).read() as session:
        found = roster.unit(session=session, code=unit.strip().upper()) if unit else None
        if unit and found is None:
            fail(f"没有单位编码 {unit}", 1)
        campaign = campaigns.active_campaign(session=session)
        rows = audit_rows(session=session, campaign=campaign, unit_code=found.code if found else None, limit=limit)
    zone = campaign.campaign.timezone if campaign else "UTC"
    typer.echo(render("audit.txt", rows=list(reversed(rows)), unit=found, zone=zone))


@app.command(help="准备 make run 的演示：数据库、移到今天的 2013 年考核、示例名单。")
def demo(
    campaign_out: Path = typer.Option(Path("var/demo-campaign.toml"), help="演示考核文件写到哪里"),
    admin_token_file: Path | None = typer.Option(
        None, help="演示管理页面的随机令牌存在这个文件里（第一次生成，之后沿用）"
    ),
) -> None:
    """Prepare the demo of `make run`: schema, the 2013 campaign moved to today, the sample roster."""
    from bot.demo import demo_admin_token
    from bot.operations import setup_demo

    s = settings()
    for line in setup_demo(_db(s, migrated=False), campaign_out, datetime.now(UTC)):
        typer.echo(line)
    if admin_token_file is not None:
        typer.echo(f"dashboard admin token (demo only, in {admin_token_file}): {demo_admin_token(admin_token_file)}")


def _prepare(s: Settings) -> None:
    """Schema current, campaign as start_campaign decides; one line saying which campaign is active."""
    from bot.operations import prepare

    db = _db(s)  # outside the try: typer.Exit is a RuntimeError too
    try:
        line = prepare(db, s)
    except CampaignError as exc:
        fail(f"考核文件未通过检查：{exc}")
    except RuntimeError as exc:
        fail(str(exc))
    logging.getLogger("kaohe").info(line)


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at 不是 ISO 时间：{text!r}（例如 2013-12-16T09:10+08:00）")
    if moment.tzinfo is None:
        from storage import campaigns

        with _db(settings()).read() as session:
            campaign = campaigns.active_campaign(session=session)
        moment = moment.replace(tzinfo=campaign.tz if campaign else UTC)
    return moment


def _register_subcommands() -> None:
    from bot.outbox_cli import outbox_app

    app.add_typer(outbox_app, name="outbox")


_register_subcommands()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code = app(standalone_mode=False)  # click's usage errors come here, to be said in one line
    except typer.Abort:
        typer.echo("kaohe：已取消", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the contract: a failure is one line on stderr, never a traceback
        if "UsageError" in _kinds(exc):
            try:
                said = _usage_error(exc)
            except Exception:  # a click of another shape: its own words, still one line
                said = f"命令用法不对（{_one_line(exc)}），用「kaohe --help」查看用法"
            typer.echo(f"kaohe：{said}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        logging.getLogger(__name__).debug("kaohe failed", exc_info=True)
        typer.echo(f"kaohe：出错了：{_one_line(exc)}", err=True)
        sys.exit(1)

    sys.exit(code if isinstance(code, int) else 0)  # typer.Exit's code (fail() gives 2), else 0


def _kinds(exc: Exception) -> set[str]:
    """Its classes' names: typer carries its own copy of click, whose exceptions it does not export."""
    return {c.__name__ for c in type(exc).__mro__}


def _param_name(param) -> str:
    """FILE for an argument, --as for an option, as `--help` shows them."""
    if param is None:
        return ""
    opts = getattr(param, "opts", None) or [getattr(param, "name", None) or ""]
    return opts[0].upper() if getattr(param, "param_type_name", "") == "argument" else " / ".join(opts)


def _usage_error(exc) -> str:
    """A usage mistake (a missing argument, an unknown option or command) in the operator's words."""
    ctx = getattr(exc, "ctx", None)
    help_hint = f"用「{ctx.command_path if ctx else 'kaohe'} --help」查看用法"
    kinds, message = _kinds(exc), str(getattr(exc, "message", exc))
    param = getattr(exc, "param", None)
    if "MissingParameter" in kinds:
        return f"缺少参数 {_param_name(param)}，{help_hint}"
    if "NoSuchOption" in kinds:
        return f"没有 {exc.option_name} 这个选项，{help_hint}"
    needs = re.match(r"Option '(.+)' requires an argument", message)
    if needs:
        return f"{needs[1]} 后面要跟一个值，{help_hint}"
    if "BadParameter" in kinds:
        what = "应为整数" if "integer" in message else f"值不对（{message}）"
        return f"{_param_name(param) or '参数'} {what}，{help_hint}"
    found = re.match(r"No such command '(.+)'", message)
    if found:
        return f"没有 {found[1]} 这个命令，{help_hint}"
    return f"命令用法不对（{message}），{help_hint}"


def _one_line(exc: Exception) -> str:
    """The first line of what went wrong, from the driver when SQLAlchemy wraps it."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0]}" if text else type(inner).__name__


if __name__ == "__main__":
    main()
