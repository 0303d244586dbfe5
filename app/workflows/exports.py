"""X7 exports too big for a web request (issue 13, point 4): written by the task queue's worker, watched and
downloaded from 导出记录.

A list's export address answers as before while the list is small (EXPORT_INLINE_ROWS rows or fewer: the file
comes at once). A bigger one is recorded here and queued; the request only redirects to the export's page, which
shows the rows written so far and then the download. The worker makes the file by **replaying the export address**
as the person who asked (`run`): a request context for the same path and query, with a session naming their
account, membership, delegation, language and login time, dispatched through the whole app. Every check a live
request meets runs again at that moment (login still valid, password not forced, the page's permission, the org
scope, the delegation in force), and no export needs code of its own: the view's `file_response` (a list's
`xlsx_response`, a batch of certificates from the completion statistics) notices the replay (`replaying`) and
writes the file to the store instead of a response (`write_replayed`).

A file is the asker's alone (the list of their scope, as their role saw it): only the membership that asked sees the
record and downloads it, for EXPORT_KEEP_HOURS; then `expire` removes it. With TASKS_INLINE (the tests, a start
without Redis) every export is made in the request, as before."""
from __future__ import annotations

import datetime
import logging
import os
import secrets

from flask import current_app, request
from flask.ctx import RequestContext
from flask.sessions import SecureCookieSession
from flask.testing import EnvironBuilder
from flask_babel import force_locale, gettext
from sqlalchemy import select, update

from .. import tasks
from ..extensions import db
from ..models import ExportJob, ExportState
from . import deputies
from .base import FOLLOWS, Actor, ConcurrentTransition, StateMachine, Transition, transaction

log = logging.getLogger(__name__)

S = ExportState
_JOB = frozenset({FOLLOWS})
JOB_KEY = "jxjy.export_job"          # in a replayed request's WSGI environ: the export it makes (no header sets it)
STORED_KEY = "jxjy.export_stored"    # the file name it writes in the store
RESULT_KEY = "jxjy.export_result"    # what the view wrote: (rows, download name)
PROGRESS_EVERY = 1_000


class ExportMachine(StateMachine):
    """An export's life: written by the worker, then downloadable until it expires; a failed or interrupted one
    ends there (the person exports again)."""

    model = ExportJob
    object_type = "export_job"
    initial = (S.WRITING,)
    reason_required = frozenset()
    transitions = [
        Transition(S.WRITING, "done", S.DONE, _JOB),
        Transition(S.WRITING, "fail", S.FAILED, _JOB),
        Transition(S.WRITING, "interrupt", S.INTERRUPTED, _JOB),
        Transition(S.DONE, "expire", S.EXPIRED, _JOB),
    ]

    def in_scope(self, item, actor: Actor) -> bool:
        return item.user_id == actor.user_id

    def is_owner(self, item, actor: Actor) -> bool:
        return item.user_id == actor.user_id


machine = ExportMachine()


def inline_rows() -> int:
    return int(current_app.config["EXPORT_INLINE_ROWS"])


def keep_hours() -> int:
    return int(current_app.config["EXPORT_KEEP_HOURS"])


def queued() -> bool:
    """Whether a big export goes to the queue (a queue exists, and this is not already the worker's replay)."""
    return not tasks.inline() and not replaying()


def _folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "exports")
    os.makedirs(path, exist_ok=True)
    return path


def _path(stored_name: str) -> str:
    return os.path.join(_folder(), stored_name)


# ---------------------------------------------------------------- the web request

def start(actor: Actor, membership_id: int, auth_at: float, locale: str, title: str, url: str,
          kind: str = "xlsx") -> ExportJob:
    """Record the export of `url` (the list's export path and query; `kind` the file's suffix) and queue it."""
    item = ExportJob(user_id=actor.user_id, membership_id=membership_id, delegation_id=actor.delegation_id,
                     auth_at=float(auth_at), locale=locale, ip=(actor.ip or "")[:64] or None,
                     title=str(title)[:200], url=url[:2000], kind=kind)
    machine.open(item, actor, action="start", comment=f"{item.title} {item.url}"[:500])
    job_id = tasks.enqueue(run, item.id, description=f"export {item.id}")
    db.session.execute(update(ExportJob).where(ExportJob.id == item.id).values(job_id=job_id))
    db.session.commit()
    db.session.refresh(item)
    return item


# ---------------------------------------------------------------- the worker

def replaying() -> bool:
    """Whether this request is the worker's replay of an export."""
    return bool(request) and JOB_KEY in request.environ


def write_replayed(name: str, items, write, every: int = PROGRESS_EVERY) -> None:
    """In the replay: `write(path, items)` writes the view's items (a list's rows, a batch's people) to the store
    (a part file renamed once whole) and returns how many it wrote; progress is reported every `every` items."""
    stored = request.environ[STORED_KEY]
    part = _path(stored) + ".part"

    def counted():
        for n, item in enumerate(items, 1):
            if n % every == 0:
                tasks.progress(n, 0)
            yield item

    try:
        written = write(part, counted())
        os.replace(part, _path(stored))
    finally:
        if os.path.exists(part):
            os.remove(part)
    request.environ[RESULT_KEY] = (written, name)


def _replay(item: ExportJob, stored: str):
    """Dispatch the export address as its asker, in an app context of its own (its own database session)."""
    app = current_app._get_current_object()
    with app.app_context():
        builder = EnvironBuilder(app, item.url, environ_base={
            "REMOTE_ADDR": item.ip or "127.0.0.1", JOB_KEY: item.id, STORED_KEY: stored})
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        data = {"_user_id": str(item.user_id), "_fresh": False, "membership_id": item.membership_id,
                "auth_at": item.auth_at, "locale": item.locale}
        if item.delegation_id:
            data[deputies.SESSION_KEY] = item.delegation_id
        with RequestContext(app, environ, session=SecureCookieSession(data)):
            response = app.full_dispatch_request()
            return response.status_code, request.environ.get(RESULT_KEY)


def _refusal(status: int) -> str:
    if status in (301, 302, 303, 401):
        return gettext("Your login ended before the export was written (logged out, password changed, or the "
                       "session's time was up). Log in and export again.")
    if status == 403:
        return gettext("You no longer have permission to export this list.")
    if status == 404:
        return gettext("The list no longer exists.")
    return gettext("The export could not be made. Try again, or tell the platform's operators if it happens "
                   "again.")


def run(export_id: int) -> None:
    """The queued job: make the file, and record the result (or why there is none)."""
    stored = None
    try:
        item = db.session.get(ExportJob, export_id)
        if item is None or item.state != S.WRITING.value:
            return
        stored = f"{secrets.token_hex(16)}.{item.kind}"
        tasks.progress(0, 0)  # alive: the page counts a silent worker as gone from now on
        locale = item.locale
        db.session.expunge(item)  # its values stay readable; no transaction is held open while the file is written
        db.session.rollback()
        with force_locale(locale):
            try:
                status, result = _replay(item, stored)
            except Exception:  # noqa: BLE001 - whatever stops it, the record says so and no file is left
                log.exception("export %s failed", export_id)
                status, result = 500, None
            message = None if result is not None else _refusal(status)
        with transaction():
            item = db.session.get(ExportJob, export_id)
            if result is None:
                machine.enter(item, "fail", None, values=dict(message=message, finished_at=datetime.datetime.now()),
                              follows=True)
            else:
                rows, name = result
                machine.enter(item, "done", None, comment=f"rows={rows}", follows=True, values=dict(
                    rows=rows, stored_name=stored, file_name=name[-250:], size=os.path.getsize(_path(stored)),
                    finished_at=datetime.datetime.now()))
    except ConcurrentTransition:  # the page marked it interrupted meanwhile: the file is not kept
        _remove(stored)
    except Exception:
        _remove(stored)
        raise
    finally:
        if tasks.in_worker():
            db.session.remove()  # the worker's next job starts with a fresh session


def _remove(stored: str | None) -> None:
    if stored and os.path.exists(_path(stored)):
        os.remove(_path(stored))


def watch(item: ExportJob) -> tasks.JobState | None:
    """The queue's view of an export being written; one whose worker stopped is marked interrupted. None when it is
    not being written."""
    if not item.running:
        return None
    job = tasks.state(item.job_id)
    if job.status in (tasks.LOST, tasks.FAILED, tasks.FINISHED):
        db.session.refresh(item)
        if item.running:
            with force_locale(item.locale):
                message = gettext("The background worker stopped before the end. Export the list again.")
            try:
                with transaction():
                    machine.enter(item, "interrupt", None, follows=True,
                                  values=dict(message=message, finished_at=datetime.datetime.now()))
            except ConcurrentTransition:  # the job itself ended it at this very moment
                pass
            db.session.refresh(item)
    return job


def expire() -> int:
    """The periodic job: remove the files kept their time (EXPORT_KEEP_HOURS); returns how many."""
    limit = datetime.datetime.now() - datetime.timedelta(hours=keep_hours())
    ids = list(db.session.scalars(select(ExportJob.id).where(ExportJob.state == S.DONE.value,
                                                            ExportJob.finished_at < limit)))
    done = 0
    for export_id in ids:
        try:
            with transaction():
                item = db.session.get(ExportJob, export_id)
                stored = item.stored_name
                machine.enter(item, "expire", None, follows=True, values=dict(stored_name=None))
        except ConcurrentTransition:
            continue
        _remove(stored)
        done += 1
    return done


# ---------------------------------------------------------------- reading

def records(membership_id: int, limit: int = 50) -> list[ExportJob]:
    """导出记录: this membership's exports, newest first."""
    return list(db.session.scalars(select(ExportJob).where(ExportJob.membership_id == membership_id)
                                   .order_by(ExportJob.id.desc()).limit(limit)))


def get(membership_id: int, export_id: int | None) -> ExportJob | None:
    """The export if this membership asked for it (None otherwise: its existence is not told)."""
    if not export_id:
        return None
    return db.session.scalar(select(ExportJob).where(ExportJob.id == export_id,
                                                     ExportJob.membership_id == membership_id))


def file_path(item: ExportJob) -> str | None:
    """The file of a finished export still kept, else None."""
    if item.state != S.DONE.value or not item.stored_name:
        return None
    limit = datetime.timedelta(hours=keep_hours())
    if item.finished_at and item.finished_at + limit < datetime.datetime.now():
        return None
    path = _path(item.stored_name)
    return path if os.path.isfile(path) else None

