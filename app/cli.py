"""Flask CLI commands: demo data, translations, the task-queue worker and its scheduler, statistics snapshots,
backup and restore (the work itself in app/backup.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import click
from flask import Flask, current_app

from . import backup, tasks
from .extensions import db

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--persons", default=240, help="Number of demo professionals.")
    def seed_demo(persons: int) -> None:
        """Load the demo organisations and accounts (idempotent: does nothing if already loaded)."""
        from .demo import seed

        created = seed(persons=persons)
        click.echo("demo data loaded" if created else "demo data already present")

    @app.cli.command("stats-snapshot")
    @click.option("--year", default=None, help="The year to keep (default: last year).")
    def stats_snapshot(year) -> None:
        """Keep the distribution statistics of a year as they stand now (年度统计快照), replacing that year's
        snapshot if there is one; the scheduler takes last year's on 1 January."""
        from . import clock
        from .workflows import stat_snapshots, statistics

        try:
            snapshot = stat_snapshots.take_snapshot(clock.today().year - 1 if year is None else year)
        except statistics.BadYear:
            low, high = statistics.year_range()
            raise click.ClickException(f"--year {year}: choose a year from {low} to {high}") from None
        click.echo(f"statistics snapshot of {snapshot.year} taken: {snapshot.rows} rows")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    def worker(burst: bool) -> None:
        """Run a task-queue worker (RQ on REDIS_URL) inside this app: imports and other long work."""
        if tasks.inline():
            raise click.ClickException("REDIS_URL is not set (or TASKS_INLINE is on): jobs run inline, no worker "
                                       "is needed")
        queue = tasks.queue()
        tasks.QueueWorker([queue], connection=queue.connection).work(burst=burst, with_scheduler=False,
                                                                     logging_level="INFO")

    @app.cli.command("scheduler")
    def scheduler() -> None:
        """Run the periodic jobs through RQ's cron scheduler (the worker runs them): the sweep of notification
        e-mails still pending and the expiry of unpaid class orders every minute (each once at the start too: a
        restart delivers what a crash left), review reminders, escalation and completion reminders every hour, the
        removal of export files past EXPORT_KEEP_HOURS every hour, the statistics snapshot of the year just ended at
        00:05 on 1 January (the server's local time)."""
        if tasks.inline():
            raise click.ClickException("REDIS_URL is not set (or TASKS_INLINE is on): there is no queue to schedule "
                                       "on")
        from rq.cron import CronScheduler

        from .workflows import exports, notifications, orders, reminders, stat_snapshots

        queue = tasks.queue()
        cron = CronScheduler(connection=queue.connection, logging_level="INFO")
        every_minute = ((notifications.deliver_pending, "notification e-mails left pending"),
                        (orders.expire_overdue, "unpaid class orders past their time"))
        for job, description in every_minute:
            cron.register(job, queue_name=queue.name, interval=60)
            tasks.enqueue(job, description=description)  # once now: a restart catches up at once
        cron.register(reminders.run, queue_name=queue.name, cron="0 * * * *")
        cron.register(stat_snapshots.snapshot_last_year, queue_name=queue.name, cron="5 0 1 1 *")  # 年度统计快照
        cron.register(exports.expire, queue_name=queue.name, cron="20 * * * *")  # export files past their time
        cron.start()

    @app.cli.command("backup")
    @click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False),
                  help="A new (or empty) directory for the backup.")
    def backup_command(to_dir: str) -> None:
        """Back up the database (pg_dump, or SQLite's online backup) and the file store, with a manifest of row
        counts and checksums."""
        try:
            backup.backup(current_app.config, db.engine, to_dir, echo=click.echo)
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None

    @app.cli.command("restore")
    @click.option("--from", "from_dir", required=True, type=click.Path(exists=True, file_okay=False),
                  help="A directory written by `flask backup`.")
    @click.option("--database-url", required=True,
                  help="The database to restore into (created if it does not exist; must be empty unless --force).")
    @click.option("--files-to", type=click.Path(file_okay=False), default=None,
                  help="Restore the files into DIR/uploads and DIR/learning (default: the configured UPLOAD_FOLDER "
                       "and LEARNING_FOLDER, which must be empty unless --force).")
    @click.option("--force", is_flag=True, help="Restore into a database or directory that is not empty.")
    @click.option("--jobs", default=1, show_default=True, help="Parallel pg_restore jobs.")
    def restore_command(from_dir: str, database_url: str, files_to: str | None, force: bool, jobs: int) -> None:
        """Restore a backup into a new database and file store, then compare row counts and file checksums with
        the backup's manifest."""
        try:
            result = backup.restore(current_app.config, from_dir, database_url, files_to=files_to, force=force,
                                    jobs=jobs, echo=click.echo)
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        backup.report(result, echo=click.echo)
        if not result.ok:
            raise click.ClickException("The restored data differ from the backup (see above).")
        click.echo("Restored and verified." + backup.serve_hint(database_url, files_to))

    @app.cli.group()
    def translate() -> None:
        """Translation commands (wrapping pybabel)."""

    def _pybabel(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT)

    @translate.command()
    def update() -> None:
        """Extract messages and merge them into translations/zh."""
        _pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", "messages.pot", ".")
        _pybabel("update", "-i", "messages.pot", "-d", "translations", "--no-fuzzy-matching", "--ignore-obsolete")
        os.remove(os.path.join(ROOT, "messages.pot"))

    @translate.command()
    def compile() -> None:  # noqa: A001 - CLI verb
        """Compile translations/*/LC_MESSAGES/messages.po into .mo files."""
        _pybabel("compile", "-d", "translations")
