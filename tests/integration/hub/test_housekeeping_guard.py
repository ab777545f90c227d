"""A failing housekeeping run never fails a builder's poll and leaves nothing behind
(hub/scheduler.py, ``_guarded``), on SQLite and PostgreSQL.

On PostgreSQL the housekeeping and the assignment of ``host.getTasks`` run without a savepoint
(a round trip each): a failure after a write of theirs has the request run again with
savepoints (db.RerunWithSavepoints), and the automatic repo check the first run took is due
again in the rerun. Called in-process through the dispatcher against a real database.
"""

from __future__ import annotations

import os
import time
import uuid
import xmlrpc.client

import koji.xmlrpcplus
import pytest
from sqlalchemy import func, insert, select

from pungi_like.buildsvc.db import schema as s
from pungi_like.buildsvc.hub import dispatch, scheduler
from pungi_like.buildsvc.hub.context import context
from pungi_like.buildsvc.hub.server import HubApp
from pungi_like.buildsvc.instance import init_hub

pytestmark = pytest.mark.integration

PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: the time stamp of the event the failing housekeeping writes
MARK = 12345.0


def _call(app, name, *args, environ=None):
    body = koji.xmlrpcplus.dumps(tuple(args), name, allow_none=1).encode()
    out = dispatch.handle_xmlrpc(app, environ or {}, body)
    return xmlrpc.client.loads(out)[0][0]


def _session(app, user):
    with app.db.engine.begin() as conn:
        uid = conn.execute(select(s.users.c.id).where(s.users.c.name == user)).scalar_one()
        sid = conn.execute(insert(s.sessions).values(
            user_id=uid, key="k-" + user, authtype=0, start_ts=time.time(),
            update_ts=time.time(), expired=False, closed=False)
            .returning(s.sessions.c.id)).scalar_one()
    return {"QUERY_STRING": "session-id=%d&session-key=k-%s" % (sid, user)}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request, tmp_path):
    """(a hub in this process, the admin's and a host's environ, the backend)."""
    pg_name = db_url = None
    if request.param == "postgres":
        import psycopg

        pg_name = "pl_housekeeping_%s" % uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % pg_name)
        db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
    hub = HubApp(init_hub(str(tmp_path / "top"), "kojiadmin", db_url))
    try:
        admin = _session(hub, "kojiadmin")
        _call(hub, "addHost", "b1", ["x86_64"], environ=admin)
        yield hub, admin, _session(hub, "b1"), request.param
    finally:
        hub.db.dispose()
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def _marked_events(hub):
    with hub.db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.events).where(
            s.events.c.ts == MARK)).scalar_one()


@pytest.mark.parametrize("writes_first", [True, False])
def test_a_failing_repo_check_is_rolled_back_alone(app, monkeypatch, writes_first):
    hub, admin, host, backend = app
    calls = []

    def failing():
        calls.append(context.every_savepoint)
        if writes_first:
            context.conn.execute(insert(s.events).values(ts=MARK))
        raise RuntimeError("the repo check broke")

    monkeypatch.setattr(scheduler, "auto_requests", failing)
    before = time.time()
    # the first getTasks runs the whole housekeeping (maintain), which calls the repo check
    assert _call(hub, "host.getTasks", environ=host) == []
    _call(hub, "host.updateHost", 0.0, True, environ=host)   # ready for tasks
    tid = _call(hub, "makeTask", "sleep", [0], environ=admin)
    # a tag change's note: the next poll runs the repo check alone
    scheduler.note_change(hub)
    got = _call(hub, "host.getTasks", environ=host)
    # the poll answered, the task was assigned to the caller: the rest of the request committed
    assert [t["id"] for t in got] == [tid]
    assert _call(hub, "getTaskInfo", tid, environ=admin)["host_id"] == \
        _call(hub, "getHost", "b1", environ=admin)["id"]
    with hub.db.engine.connect() as conn:
        assert conn.execute(select(s.host.c.update_ts).where(
            s.host.c.name == "b1")).scalar_one() >= before
    # what the failing check wrote is gone
    assert _marked_events(hub) == 0
    if backend == "postgres" and writes_first:
        # each failure after a write ran again, with its savepoint: the check was given back
        assert calls == [False, True, False, True]
    else:
        # SQLite: in a savepoint from the start; a failure before any write: nothing to
        # undo, no rerun
        assert calls == [False, False]
