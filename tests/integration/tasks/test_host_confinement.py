"""Host confinement (issue 8, findings 1 and 9): ``host.*`` calls need a logged-in host, and a host
acts only on the tasks it holds OPEN, the buildroots it made and the repos its task creates; a
restarted builder daemon locks out whatever its predecessor's sessions still send.

The hosts are real clients (koji.ClientSession with their own certificates) against a hub served
over HTTPS, on SQLite and on PostgreSQL."""

from __future__ import annotations

import koji
import koji.xmlrpcplus
import pytest

from pungi_like.buildsvc.hub.registry import load_all

pytestmark = pytest.mark.integration

RESULT = koji.xmlrpcplus.dumps((None,), methodresponse=1, allow_none=1)


def _anonymous(hub):
    import os

    return koji.ClientSession(hub.url, {"serverca": os.path.join(hub.pki, "ca.crt")})


def _hosts(hub):
    hub.add_builder_hosts()
    return hub.session("b1"), hub.session("b2")


def _refused(call, *args, exc=koji.ActionNotAllowed, **kwargs):
    with pytest.raises(exc) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_every_host_method_needs_a_logged_in_host(qhub):
    names = sorted(n for n in load_all() if n.startswith("host."))
    assert {"host.taskUnwait", "host.taskWait", "host.taskWaitResults", "host.getLoadData",
            "host.setBuildRootState", "host.repoDone"} <= set(names)
    admin = qhub.session()
    qhub.add_builder_hosts()
    tid = admin.makeTask("sleep", [1])
    b1 = qhub.session("b1")
    assert b1.host.openTask(tid)["id"] == tid
    b1.host.taskSetWait(tid, None)
    for who, session in (("anonymous", _anonymous(qhub)), ("kojiadmin", admin),
                         ("alice", qhub.session("alice"))):
        for name in names:
            # wrong or missing arguments do not matter: the caller is refused first
            with pytest.raises(koji.AuthError, match="not a host|Not logged-in") as info:
                session._callMethod(name, (tid,), {})
            assert type(info.value) is koji.AuthError, (who, name, info.value)
    # the anonymous taskUnwait of the issue no longer touches a waiting task
    info = admin.getTaskInfo(tid)
    assert info["state"] == koji.TASK_STATES["OPEN"] and info["waiting"] is True
    assert b1.host.getLoadData()[1] == []   # the real host may still ask


def test_a_host_acts_only_on_tasks_it_holds(qhub):
    b1, b2 = _hosts(qhub)
    admin = qhub.session()
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)["id"] == tid
    assert b2.host.openTask(tid) is None
    child = b1.host.subtask("sleep", [0], tid, label="c1")
    b1.host.taskSetWait(tid, [child])
    for call, args in (
            (b2.host.closeTask, (tid, RESULT)), (b2.host.failTask, (tid, RESULT)),
            (b2.host.setTaskWeight, (tid, 3.0)), (b2.host.taskWait, (tid,)),
            (b2.host.taskUnwait, (tid,)), (b2.host.taskWaitResults, (tid, [child])),
            (b2.host.taskSetWait, (tid, None)), (b2.host.subtask, ("sleep", [0], tid)),
            (b2.host.initImageBuild, (tid, {"name": "img", "version": "1", "release": "1"})),
            (b2.host.importImage, (tid, 1, {})), (b2.host.moveImageBuildToScratch, (tid, {})),
            (b2.host.initBuild, ({"task_id": tid, "name": "p", "version": "1",
                                  "release": "1"},)),
            (b2.host.failBuild, (tid, 1)), (b2.host.moveBuildToScratch, (tid, "x", []))):
        msg = _refused(call, *args)
        assert "b2 does not hold task %d" % tid in msg, msg
    b2.host.freeTasks([tid])          # only frees what b2 holds: nothing
    b2.host.refuseTask(tid)
    info = admin.getTaskInfo(tid)
    assert info["state"] == koji.TASK_STATES["OPEN"] and info["waiting"] is True
    assert qhub.session().getHost(info["host_id"])["name"] == "b1"
    assert admin.getTaskInfo(child)["awaited"] is True
    assert admin.getTaskInfo(tid)["weight"] == 1.0
    assert [t["id"] for t in admin.getTaskChildren(tid)] == [child]
    # results only of its own subtasks, even for the holder
    other = admin.makeTask("sleep", [0])
    _refused(b1.host.taskWaitResults, tid, [other])
    # the holder still can; a task it no longer holds (freed by an admin) it cannot close
    assert b1.host.taskWait(tid) == [[], [child]]
    admin.freeTask(tid)
    _refused(b1.host.closeTask, tid, RESULT)
    _refused(b1.host.taskUnwait, tid)
    assert admin.getTaskInfo(tid)["state"] == koji.TASK_STATES["FREE"]


def test_buildroots_and_repos_stay_with_their_host(qhub):
    b1, b2 = _hosts(qhub)
    admin = qhub.session()
    admin.createTag("conf-build", arches="x86_64")
    tid = admin.makeTask("sleep", [1])
    other = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid) and b2.host.openTask(other)
    # a repo belongs to the newRepo task creating it
    _refused(b2.host.repoInit, "conf-build", task_id=tid)
    _refused(b2.host.repoInit, "conf-build")
    repo_id, _event = b1.host.repoInit("conf-build", task_id=tid)
    _refused(b2.host.repoDone, repo_id, {})
    # ... and takes files only from that task's tree, not from another task's output
    msg = _refused(b1.host.repoDone, repo_id,
                   {"x86_64": [koji.pathinfo.taskrelpath(other), ["repomd.xml"]]})
    assert "task %d or its subtasks" % tid in msg
    assert admin.repoInfo(repo_id)["state"] == koji.REPO_STATES["INIT"]
    # buildroots: only their host changes them
    br = b1.host.newBuildRoot(repo_id, "x86_64", task_id=tid)
    _refused(b2.host.newBuildRoot, repo_id, "x86_64", task_id=tid)
    _refused(b2.host.setBuildRootState, br, "EXPIRED")
    _refused(b2.host.setBuildRootState, br, "EXPIRED", task_id=other)
    _refused(b2.host.updateBuildRootList, br, [])
    _refused(b2.host.setBuildRootList, br, [])
    assert admin.getBuildroot(br)["state"] == koji.BR_STATES["INIT"]
    b1.host.setBuildRootState(br, "BUILDING", task_id=tid)
    assert admin.getBuildroot(br)["state"] == koji.BR_STATES["BUILDING"]
    _refused(b1.host.setBuildRootState, br, "INIT", exc=koji.GenericError)
    b1.host.repoDone(repo_id, {})
    assert admin.repoInfo(repo_id)["state"] == koji.REPO_STATES["READY"]


def test_restarted_daemon_locks_out_its_predecessor(qhub):
    """Finding 9 on the hub: a daemon killed alone leaves a task process with a subsession; the
    restarted daemon (an exclusive session, as kojid takes) frees the task as stale and takes it
    again. Whatever the orphan sends then is refused: it cannot close the task or write output."""
    qhub.add_builder_hosts()
    admin = qhub.session()
    tid = admin.makeTask("sleep", [1])
    old_daemon = qhub.session("b1")
    old_daemon.exclusiveSession(force=True)
    orphan = old_daemon.subsession()          # the task process of the old daemon
    assert orphan.host.openTask(tid)["id"] == tid
    new_daemon = qhub.session("b1")
    with pytest.raises(koji.AuthLockError):
        new_daemon.exclusiveSession()          # without force: the lock is taken
    new_daemon.exclusiveSession(force=True)
    assert [t["id"] for t in new_daemon.host.getHostTasks()] == [tid]
    new_daemon.host.freeTasks([tid])           # stale: no process of the new daemon runs it
    assert new_daemon.host.openTask(tid)["id"] == tid
    start_ts = admin.getTaskInfo(tid)["start_ts"]
    with pytest.raises(koji.AuthError, match="locked by another session"):
        orphan.host.closeTask(tid, RESULT)
    with pytest.raises(koji.AuthError, match="locked by another session"):
        orphan._callMethod("rawUpload", (b"forged", 0, koji.pathinfo.taskrelpath(tid),
                                         "result.txt"), {"overwrite": True})
    info = admin.getTaskInfo(tid)
    assert info["state"] == koji.TASK_STATES["OPEN"] and info["start_ts"] == start_ts
    assert admin.listTaskOutput(tid) == []
    # the new daemon's own task process works
    worker = new_daemon.subsession()
    worker._callMethod("rawUpload", (b"real", 0, koji.pathinfo.taskrelpath(tid), "result.txt"),
                       {"overwrite": True})
    worker.host.closeTask(tid, RESULT)
    assert admin.getTaskInfo(tid)["state"] == koji.TASK_STATES["CLOSED"]
    assert admin.listTaskOutput(tid) == ["result.txt"]
    # a third login of the host, neither holding the lock nor a subsession of its holder
    third = qhub.session("b1")
    with pytest.raises(koji.AuthError, match="locked by another session"):
        third.host.getID()
    # in a multicall, what an entry changed counts for the later ones: the lock taken
    # (the check read with the session at the request's start no longer holds)
    third.multicall = True
    third.exclusiveSession(force=True)
    third.host.getID()
    res = third.multiCall()
    third.multicall = False
    assert res[0] == [None] and isinstance(res[1][0], int), res
    with pytest.raises(koji.AuthError, match="locked by another session"):
        worker.host.getID()
