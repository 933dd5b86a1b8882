"""`kaohe outbox` and `kaohe outbox retry`: the command-line face of bot.outbox_admin."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

outbox_app = typer.Typer(help="Messages waiting, sent, failed or expired; resend what failed.")


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    status: list[str] = typer.Option(None, "--status", help="pending, sending, sent, failed or expired (repeatable)"),
    limit: str = typer.Option("50", "--limit", help="how many of the newest rows (1-10000)"),
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


@outbox_app.command("retry")
def outbox_retry(
    ids: list[str] = typer.Argument(None, help="outbox ids, as `kaohe outbox` lists them"),
    failed: bool = typer.Option(False, "--failed", help="every message that failed for good"),
) -> None:
    """Send failed or expired messages again (for another day); for a delivered one, those WeCom refused."""
    from bot.cli import _db, fail, settings
    from bot.outbox_admin import OutboxError, retry_rows

    try:
        lines = retry_rows(_db(settings()), ids or [], failed, datetime.now(UTC))
    except OutboxError as exc:
        fail(str(exc), 1)
    typer.echo("\n".join(lines))
