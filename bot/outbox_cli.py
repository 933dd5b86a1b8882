"""`kaohe outbox` and `kaohe outbox retry`: the command-line face of bot.outbox_admin."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

outbox_app = typer.Typer(help="待发、已发、失败或过期的消息；重发失败的。")


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    status: list[str] = typer.Option(None, "--status", help="pending、sending、sent、failed 或 expired（可写多次）"),
    limit: str = typer.Option("50", "--limit", help="最近的多少条（1 到 10000）"),
) -> None:
    """The outbox's newest messages: status, recipients, attempts, next try, last error."""
    if ctx.invoked_subcommand:
        return
    from bot.cli import _db, fail, settings
    from bot.outbox_admin import OutboxError, outbox_listing

    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 10_000):
        fail(f"--limit 必须是 1 到 10000 的整数，不能是 {limit!r}")
    try:
        typer.echo(outbox_listing(_db(settings()), status or None, int(limit)))
    except OutboxError as exc:
        fail(str(exc))


@outbox_app.command("retry", help="把发送失败（或已过期）的消息再发一次；对已送达的，只发给企业微信拒收的人。")
def outbox_retry(
    ids: list[str] = typer.Argument(None, help="消息编号，即 `kaohe outbox` 列出的编号"),
    failed: bool = typer.Option(False, "--failed", help="所有最终失败的消息"),
) -> None:
    """Send failed or expired messages again (for another day); for a delivered one, those WeCom refused."""
    from bot.cli import _db, fail, settings
    from bot.outbox_admin import OutboxError, retry_rows

    try:
        lines = retry_rows(_db(settings()), ids or [], failed, datetime.now(UTC))
    except OutboxError as exc:
        fail(str(exc), 1)
    typer.echo("\n".join(lines))
