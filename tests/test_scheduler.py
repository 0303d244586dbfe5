"""Periodic work runs on the task queue's scheduler, not on a web request: a real `flask scheduler` process (RQ's cron
scheduler on the machine's Redis) puts the periodic jobs on the queue, and a real `flask worker` runs them against
the test database — here an unpaid order past ORDER_TIMEOUT_MINUTES is cancelled without anyone opening a page."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
from rq import Queue
from sqlalchemy import select, update

from app.extensions import db
from app.models import ClassOrder, OrderState, RoleName
from app.workflows import orders
from tests import factories
from tests.helpers import make_person

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture()
def queue_name(app):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (scripts/services.sh starts the machine's one)")
    name = f"test-cron-{uuid.uuid4().hex[:8]}"
    yield name
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)


def start(app, queue: str, command: list[str]) -> subprocess.Popen:
    env = dict(os.environ, APP_ENV="development", SECRET_KEY="test-secret", TASKS_INLINE="0", REDIS_URL=REDIS_URL,
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"],
               TASK_QUEUE=queue, PLATFORM_TIMEZONE=app.config["PLATFORM_TIMEZONE"], MAIL_SUPPRESS_SEND="1")
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run.py", *command], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def queued_functions(queue: Queue) -> set[str]:
    return {job.func_name for job in queue.get_jobs()}


def test_the_scheduler_queues_the_periodic_jobs_and_a_worker_expires_an_overdue_order(app, fast_world, queue_name):
    world = fast_world
    paid = factories.make_online_class(world.base, world.city)
    learner = make_person("逾期学员", world.unit)
    order = orders.place_order(paid, factories.actor_for(learner, RoleName.PROFESSIONAL, world.unit))
    late = order.created_at - datetime.timedelta(minutes=app.config["ORDER_TIMEOUT_MINUTES"] + 5)
    db.session.execute(update(ClassOrder).where(ClassOrder.id == order.id).values(created_at=late))
    db.session.commit()

    queue = Queue(queue_name, connection=redis.Redis.from_url(REDIS_URL))
    scheduler = start(app, queue_name, ["scheduler"])
    try:
        deadline = time.time() + 60
        wanted = {"app.workflows.notifications.deliver_pending", "app.workflows.orders.expire_overdue"}
        while time.time() < deadline and not wanted <= queued_functions(queue):
            assert scheduler.poll() is None, "the scheduler stopped"
            time.sleep(0.2)
        assert wanted <= queued_functions(queue)
    finally:
        stop(scheduler)
    assert db.session.scalar(select(ClassOrder.state).where(ClassOrder.id == order.id)) == OrderState.PENDING.value

    worker = start(app, queue_name, ["worker", "--burst"])
    try:
        worker.wait(120)
    finally:
        stop(worker)
    db.session.expire_all()
    assert db.session.scalar(select(ClassOrder.state).where(ClassOrder.id == order.id)) == OrderState.CANCELLED.value
