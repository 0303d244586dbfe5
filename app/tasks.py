"""The task queue: long work (imports, later e-mails, exports, reminders) runs in a worker process, not in a web
request. RQ on Redis (REDIS_URL); `flask worker` runs a worker inside the app, `run.sh` starts one.

A job reports its progress with `progress(done, total)`; the page that started it polls `state(job_id)`, which
also tells a job whose worker has stopped: every progress report stamps the time, and a started job whose last
stamp is older than TASK_STALE_SECONDS has lost its worker (killed, out of memory, machine restarted). A job
still queued while no worker listens says so too, instead of showing "in progress" for ever.

With TASKS_INLINE (the tests' default, and any start without Redis) a job runs at once in the calling process.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

QUEUED, STARTED, FINISHED, FAILED, LOST, NO_WORKER = "queued", "started", "finished", "failed", "lost", "no_worker"


def _redis() -> Redis:
    """One client (and its connection pool) per app and Redis address, not one per poll of a page."""
    url = current_app.config["REDIS_URL"]
    clients = current_app.extensions.setdefault("task_redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url)
    return clients[url]


def reachable() -> bool:
    """Whether the queue's Redis answers now (within 2 s): work that can also be done in the request (an export)
    is done there rather than refused while the queue is away."""
    url = current_app.config["REDIS_URL"]
    clients = current_app.extensions.setdefault("task_redis_probe", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(clients[url].ping())
    except RedisError:
        return False


def queue():
    cfg = current_app.config
    return Queue(cfg["TASK_QUEUE"], connection=_redis(), default_timeout=cfg["TASK_TIMEOUT_SECONDS"])


def inline() -> bool:
    return bool(current_app.config.get("TASKS_INLINE")) or not current_app.config.get("REDIS_URL")


def enqueue(func, *args, description: str = "") -> str | None:
    """Run `func(*args)` in a worker; returns the job id, or None when it ran inline (it has then finished)."""
    if inline():
        func(*args)
        return None
    job = queue().enqueue(func, *args, description=description, result_ttl=86400, failure_ttl=7 * 86400,
                          meta={"beat": time.time(), "done": 0, "total": 0})
    return job.id


def progress(done: int, total: int) -> None:
    """Called by a running job: how far it is. Stamps the time, which tells the page the worker is alive."""
    job = get_current_job()
    if job is None:
        return
    job.meta.update(done=int(done), total=int(total), beat=time.time())
    job.save_meta()


def in_worker() -> bool:
    """Whether this code runs as a queued job in a worker (not inline in a request)."""
    return get_current_job() is not None


@dataclass
class JobState:
    status: str          # one of the constants above
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


def workers_listening() -> int:
    q = queue()
    return sum(1 for w in Worker.all(connection=q.connection) if q.name in w.queue_names())


def state(job_id: str | None) -> JobState:
    """What became of a job, as the page shows it."""
    if not job_id or inline():
        return JobState(FINISHED)
    try:
        job = Job.fetch(job_id, connection=_redis())
    except NoSuchJobError:
        return JobState(LOST)
    meta = job.get_meta(refresh=True) or {}
    done, total = meta.get("done", 0), meta.get("total", 0)
    status = job.get_status(refresh=False)
    if status == JobStatus.FINISHED:
        return JobState(FINISHED, done, total)
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return JobState(FAILED, done, total)
    started = job.started_at.replace(tzinfo=datetime.timezone.utc).timestamp() if job.started_at else 0
    stale = time.time() - max(float(meta.get("beat") or 0), started) > current_app.config["TASK_STALE_SECONDS"]
    if status == JobStatus.STARTED:
        return JobState(LOST if stale else STARTED, done, total)
    if not workers_listening():
        return JobState(NO_WORKER, done, total)
    return JobState(QUEUED, done, total)


class QueueWorker(SimpleWorker):
    """The worker `flask worker` runs: RQ's SimpleWorker (each job in this process and app context: no fork, so the
    database pool is never shared across one), whose shutdown does not wait up to a minute for its pubsub thread.

    RQ stops that thread (the one listening for "shut down" / "stop job" commands) after unsubscribing; when the
    thread has read the unsubscribe reply first, it goes back to waiting for a subscription, up to RQ's 60 s, and
    redis-py's `stop()` joins it without a limit: every `flask worker --burst` and every warm shutdown (a deploy, a
    restart) then took a minute. The thread is a daemon: it is given a second and left to end with the process."""

    def unsubscribe(self):
        if self.pubsub_thread:
            self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)
            self.pubsub.close()

