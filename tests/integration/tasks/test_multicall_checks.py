"""A multicall's entries share checks, never their failures (issue 13, dispatch.py, hostcheck.py).

On PostgreSQL a read-only entry runs without a savepoint and a writing one releases the previous
entry's savepoint with its own; a host's check and the tasks it holds are looked up once for the
entries that cannot change them. These cases hold the answers to what they were: a failing
entry is rolled back alone (also a read-only one that fails in the database, which aborts a
PostgreSQL transaction), and a later entry sees what an earlier one changed.
"""

from __future__ import annotations

import base64
import datetime
import os

import koji
import koji.xmlrpcplus
import pytest

pytestmark = pytest.mark.integration

RESULT = koji.xmlrpcplus.dumps((None,), methodresponse=1, allow_none=1)
#: an id beyond PostgreSQL's integer: the query fails in the database there
HUGE = 2 ** 40


def _fault(entry):
    assert isinstance(entry, dict) and "faultCode" in entry, entry
    return entry["faultString"]


def _upload_args(tid, name, text):
    data = text.encode()
    return ("tasks/%d/%d" % (tid % 10000, tid), name, len(data), "", 0,
            base64.b64encode(data).decode())


def test_failing_entries_are_rolled_back_alone(qhub):
    admin = qhub.session()
    admin.createTag("mc-first")
    admin.multicall = True
    admin.getTaskInfo(HUGE)           # read-only, fails in the database on PostgreSQL
    admin.getTag("mc-first")
    admin.createTag("mc-second")
    admin.createTag("mc-first")       # a write that fails: already there
    admin.getBuild(HUGE)
    admin.createTag("mc-third")
    res = admin.multiCall()
    admin.multicall = False
    assert res[1][0]["name"] == "mc-first"
    assert isinstance(res[2][0], int) and isinstance(res[5][0], int)
    _fault(res[3])
    if qhub.backend == "postgres":
        _fault(res[0])
        _fault(res[4])
    names = [t["name"] for t in admin.listTags()]
    assert names.count("mc-first") == 1 and "mc-second" in names and "mc-third" in names


def test_an_entry_failing_after_its_writes_is_rolled_back_alone(qhub):
    """A writing entry runs without a savepoint on PostgreSQL: one that fails after writing
    (here createTag, whose tag and config rows are in before an extra value that cannot be
    stored fails it) has the request run again with a savepoint for every entry, so its rows
    are gone and the entries around it commit once."""
    admin = qhub.session()
    admin.multicall = True
    admin.createTag("mc-before")
    admin.createTag("mc-partial", extra={"fine": 1, "when": datetime.datetime(2026, 1, 1)})
    admin.createTag("mc-after")
    res = admin.multiCall()
    admin.multicall = False
    assert isinstance(res[0][0], int) and isinstance(res[2][0], int)
    _fault(res[1])
    assert admin.getTag("mc-partial") is None
    names = [t["name"] for t in admin.listTags()]
    assert names.count("mc-before") == 1 and names.count("mc-after") == 1
    assert "mc-partial" not in names
    # the name is free: the partial rows were rolled back, not left behind
    admin.createTag("mc-partial", extra={"fine": 1})
    assert admin.getTag("mc-partial")["extra"] == {"fine": 1}


def test_a_reading_multicall_answers_each_entry(qhub):
    """Only read-only entries: on PostgreSQL the request runs without a transaction, so an
    entry failing in the database leaves the others their answers."""
    admin = qhub.session()
    admin.createTag("mc-read")
    admin.multicall = True
    admin.getTag("mc-read")
    admin.getTaskInfo(HUGE)
    admin.search("(?P<n>mc)-read", "tag", "regexp")   # Python takes it, PostgreSQL not
    admin.getTag("mc-read", strict=True)
    admin.search("mc-r.*", "tag", "regexp")
    res = admin.multiCall()
    admin.multicall = False
    assert res[0][0]["name"] == res[3][0]["name"] == "mc-read"
    assert [t["name"] for t in res[4][0]] == ["mc-read"]
    if qhub.backend == "postgres":
        _fault(res[1])
        assert "regular expression" in _fault(res[2])
        # the same one by one
        with pytest.raises(koji.GenericError, match="regular expression"):
            admin.search("(?P<n>mc)-read", "tag", "regexp")
    assert admin.getTag("mc-read")["name"] == "mc-read"


def test_an_entry_sees_what_an_earlier_one_changed(qhub):
    qhub.add_builder_hosts(names=("b1",))
    admin = qhub.session()
    b1 = qhub.session("b1")
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)["id"] == tid
    b1.multicall = True
    b1.host.getID()
    b1.uploadFile(*_upload_args(tid, "a.log", "first"))
    b1.getTaskInfo(HUGE)
    b1.uploadFile(*_upload_args(tid, "b.log", "second"))
    b1.host.closeTask(tid, RESULT)
    # the task is no longer held: the upload after the close is refused
    b1.uploadFile(*_upload_args(tid, "c.log", "third"))
    b1.host.getID()
    res = b1.multiCall()
    b1.multicall = False
    assert res[0][0] == res[6][0] and isinstance(res[0][0], int)
    assert res[1] == [True] and res[3] == [True] and res[4] == [None]
    assert "does not hold task %d" % tid in _fault(res[5])
    if qhub.backend == "postgres":
        _fault(res[2])
    workdir = os.path.join(qhub.topdir, "work", "tasks", str(tid % 10000), str(tid))
    with open(os.path.join(workdir, "a.log")) as f:
        assert f.read() == "first"
    with open(os.path.join(workdir, "b.log")) as f:
        assert f.read() == "second"
    assert not os.path.exists(os.path.join(workdir, "c.log"))
    assert admin.getTaskInfo(tid)["state"] == koji.TASK_STATES["CLOSED"]
    # a refused entry's failure is its own: the next entries check again and act
    tid2 = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid2)["id"] == tid2
    b1.multicall = True
    b1.uploadFile(*_upload_args(tid, "d.log", "closed task"))
    b1.uploadFile(*_upload_args(tid2, "e.log", "open task"))
    b1.host.setTaskWeight(tid2, 2.5)
    b1.uploadFile(*_upload_args(tid2, "f.log", "still open"))
    res = b1.multiCall()
    b1.multicall = False
    assert "does not hold task %d" % tid in _fault(res[0])
    assert res[1] == [True] and res[3] == [True]
    assert admin.getTaskInfo(tid2)["weight"] == 2.5


def test_close_after_a_failed_upload_is_not_run(qhub):
    """A task process closes its task in the call that uploads its last files
    (TaskContext.upload_and_close): after a failed upload entry the close is refused and the
    task stays open; a failure of another kind does not stop it."""
    qhub.add_builder_hosts(names=("b1",))
    admin = qhub.session()
    b1 = qhub.session("b1")
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)["id"] == tid
    bad = list(_upload_args(tid, "a.log", "first"))
    bad[5] = "not base64!"
    b1.multicall = True
    b1.uploadFile(*_upload_args(tid, "ok.log", "fine"))
    b1.uploadFile(*bad)
    b1.host.closeTask(tid, RESULT)
    res = b1.multiCall()
    b1.multicall = False
    assert res[0] == [True]
    assert "base64" in _fault(res[1])
    assert "not run" in _fault(res[2])
    assert admin.getTaskInfo(tid)["state"] == koji.TASK_STATES["OPEN"]
    b1.multicall = True
    b1.getTaskInfo(HUGE)   # not an upload (a fault in the database on PostgreSQL)
    b1.uploadFile(*_upload_args(tid, "a.log", "first"))
    b1.checkUpload(*_upload_args(tid, "a.log", "first")[:2], verify="adler32")
    b1.host.closeTask(tid, RESULT)
    res = b1.multiCall()
    b1.multicall = False
    assert res[1] == [True] and res[2][0]["size"] == 5 and res[3] == [None]
    assert admin.getTaskInfo(tid)["state"] == koji.TASK_STATES["CLOSED"]


@pytest.mark.postgres
def test_a_look_at_unfinished_children_writes_nothing(tmp_path, task_pki):
    """A builder's task process looks at its children with taskWait and taskWaitResults in one
    multicall (TaskContext._wait_loop): taskWaitResults of an unfinished child fails, after
    reading only, so on PostgreSQL the request is answered in one run (no rerun with
    savepoints: the hub's log says when there is one) and the parent is still waiting."""
    from tests.integration.tasks.conftest import start_queue_hub, stop_queue_hub

    hub = start_queue_hub(tmp_path, task_pki, "postgres", serve_args=("--log-level", "INFO"))
    try:
        hub.add_builder_hosts(names=("b1",))
        admin = hub.session()
        b1 = hub.session("b1")
        parent = admin.makeTask("sleep", [1])
        assert b1.host.openTask(parent)["id"] == parent
        child = b1.host.subtask("sleep", [1], parent)
        b1.host.taskSetWait(parent, [child])
        b1.multicall = True
        b1.host.taskWait(parent)
        b1.host.taskWaitResults(parent, [child])
        res = b1.multiCall()
        b1.multicall = False
        assert res[0] == [[[], [child]]]
        _fault(res[1])
        assert admin.getTaskInfo(parent)["waiting"] is True
        with open(os.path.join(hub.tmp, "hub.log")) as f:
            assert "rerunning multiCall" not in f.read()
    finally:
        stop_queue_hub(hub)
