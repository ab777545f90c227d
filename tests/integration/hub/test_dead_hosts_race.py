"""A host's check-in committed while the housekeeping looks for silent hosts is not taken for
silence (hub/scheduler.py, ``free_dead_hosts``), on PostgreSQL, where each statement sees what
was committed when it began.

Seen in the two-builders test: a builder's first poll (its check-in and the tasks it was
assigned, one transaction) committed between the housekeeping's read of the hosts (the new
host silent: never checked in) and its read of their tasks; those tasks were freed and
assigned again, the host marked not ready. Here a check-in is held open in one connection
while the housekeeping runs in another; it ends once the check-in commits."""

from __future__ import annotations

import os
import threading
import time
import uuid

import koji
import pytest
from sqlalchemy import insert, select, text, update

from pungi_like.buildsvc.db import schema as s
from pungi_like.buildsvc.hub import scheduler
from pungi_like.buildsvc.hub.context import context
from pungi_like.buildsvc.hub.server import HubApp
from pungi_like.buildsvc.instance import init_hub

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ST = koji.TASK_STATES


@pytest.fixture
def hub(tmp_path):
    import psycopg

    name = "pl_deadhosts_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    app = HubApp(init_hub(str(tmp_path / "top"), "kojiadmin",
                          PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name))
    try:
        yield app
    finally:
        app.db.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def _host_and_task(app):
    """A host that never checked in (update_ts NULL) and a FREE task."""
    with app.db.engine.begin() as conn:
        uid = conn.execute(insert(s.users).values(name="b1", status=0, usertype=1)
                           .returning(s.users.c.id)).scalar_one()
        hid = conn.execute(insert(s.host).values(user_id=uid, name="b1", ready=False,
                                                 task_load=0.0)
                           .returning(s.host.c.id)).scalar_one()
        owner = conn.execute(select(s.users.c.id).where(s.users.c.name == "kojiadmin")
                             ).scalar_one()
        tid = conn.execute(insert(s.task).values(
            state=ST["FREE"], method="sleep", arch="noarch", channel_id=1, priority=20,
            weight=1.0, owner=owner, create_ts=time.time(), request="<params/>")
            .returning(s.task.c.id)).scalar_one()
    return hid, tid


class _Pausing:
    """The housekeeping's connection: after its first statement it says so (``first``) and
    waits for the check-in's commit (``committed``) - the interleaving seen, made certain."""

    def __init__(self):
        self.conn = None
        self.first, self.committed = threading.Event(), threading.Event()

    def execute(self, *args, **kwargs):
        result = self.conn.execute(*args, **kwargs)
        if not self.first.is_set():
            self.first.set()
            self.committed.wait(120)
        return result


def _first_statement_done_or_waiting(app, pausing, timeout=120):
    """Until the housekeeping's first statement returned or waits for a lock (the
    check-in's row lock); an upper bound, not a measurement."""
    end = time.monotonic() + timeout
    with app.db.engine.connect() as conn:
        while time.monotonic() < end:
            if pausing.first.is_set() or conn.execute(text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE NOT l.granted AND "
                    "a.datname = current_database()")).scalar_one():
                return
            conn.rollback()
            time.sleep(0.05)
    raise AssertionError("the housekeeping neither read the hosts nor waited for a lock")


def test_a_check_in_committed_meanwhile_is_not_taken_for_silence(hub):
    hid, tid = _host_and_task(hub)
    freed, failed = [], []
    pausing = _Pausing()

    def housekeeping():
        try:
            with hub.db.engine.begin() as conn:
                pausing.conn = conn
                context.conn = pausing
                freed.extend(scheduler.free_dead_hosts(600.0))
        except Exception as exc:  # noqa: B902 - reported by the test
            failed.append(exc)
        finally:
            context.conn = None

    with hub.db.engine.connect() as checkin:
        trans = checkin.begin()
        # the host's first poll: its check-in and the task assigned to it, not yet committed
        checkin.execute(update(s.host).where(s.host.c.id == hid).values(
            update_ts=time.time(), ready=True))
        checkin.execute(update(s.task).where(s.task.c.id == tid).values(
            state=ST["ASSIGNED"], host_id=hid))
        worker = threading.Thread(target=housekeeping)
        worker.start()
        _first_statement_done_or_waiting(hub, pausing)
        trans.commit()
        pausing.committed.set()
    worker.join(timeout=120)
    assert not worker.is_alive() and not failed, failed
    with hub.db.engine.connect() as conn:
        task = conn.execute(select(s.task.c.state, s.task.c.host_id).where(
            s.task.c.id == tid)).one()
        ready = conn.execute(select(s.host.c.ready).where(s.host.c.id == hid)).scalar_one()
    assert freed == []
    assert (task.state, task.host_id) == (ST["ASSIGNED"], hid)
    assert ready is True


def test_a_silent_host_still_has_its_tasks_freed(hub):
    hid, tid = _host_and_task(hub)
    with hub.db.engine.begin() as conn:
        conn.execute(update(s.host).where(s.host.c.id == hid).values(
            update_ts=time.time() - 3600, ready=True))
        conn.execute(update(s.task).where(s.task.c.id == tid).values(
            state=ST["OPEN"], host_id=hid))
    with hub.db.engine.begin() as conn:
        context.conn = conn
        try:
            assert scheduler.free_dead_hosts(600.0) == [tid]
        finally:
            context.conn = None
    with hub.db.engine.connect() as conn:
        assert conn.execute(select(s.task.c.state, s.task.c.host_id).where(
            s.task.c.id == tid)).one() == (ST["FREE"], None)
        assert conn.execute(select(s.host.c.ready).where(s.host.c.id == hid)).scalar_one() \
            is False
