"""Issue 13: builders woken at once by the hub (host.waitWork) instead of at their next poll.

The builders here poll only every 300 s: after their first poll, only the hub's work bell (the
daemon's waiter process in host.waitWork) can make them look for a tag change's newRepo task
in time, and the createrepo child's end wakes its parent task's process directly.
"""

from __future__ import annotations

import time

import koji
import pytest

from tests.integration.tasks.test_repos import _import, _pkglist, _wait_repo_after, demo_rpms  # noqa: F401

pytestmark = pytest.mark.integration


def _first_poll_done(s, tag, timeout=120):
    return _wait_repo_after(s, tag, s.tagLastChangeEvent(tag), timeout=timeout)


def _idle_builder_on_tag(hub, demo_rpms, prefix, wait_flag):
    """A tag ``<prefix>-build`` with alpha tagged and a target, served by one builder b1 that
    polls every 300 s (``wait_flag``: --wait-work or --no-wait-work), after its first poll made
    the tag's repo and 1 s of idleness. Returns (session, that first repo)."""
    hub.add_builder_hosts(names=("b1",))
    srpms, rpms = demo_rpms
    tag = f"{prefix}-build"
    hub.koji("add-tag", tag, "--arches", "x86_64")
    hub.koji("add-tag", f"{prefix}-dest")
    _import(hub, tag, srpms + rpms, ["alpha", "beta"])
    s = hub.session()
    s.tagBuildBypass(tag, "alpha-1.0-1")
    s.createBuildTarget(prefix, tag, f"{prefix}-dest")
    hub.start_builder("b1", extra=("--poll-interval", "300", wait_flag))
    first = _first_poll_done(s, tag)
    time.sleep(1.0)   # the builder is idle now: its next poll is minutes away
    return s, first


def test_tag_change_wakes_a_slow_polling_builder(sqlite_qhub, demo_rpms):  # noqa: F811
    hub = sqlite_qhub
    s, first = _idle_builder_on_tag(hub, demo_rpms, "wake", "--wait-work")
    # the change must wake it
    s.tagBuildBypass("wake-build", "beta-2.0-1")
    start = time.monotonic()
    repo = _wait_repo_after(s, "wake-build", s.tagLastChangeEvent("wake-build"), timeout=60)
    assert time.monotonic() - start < 60
    assert repo["id"] > first["id"] and repo["state"] == koji.REPO_STATES["READY"]
    assert _pkglist(hub, "wake-build", repo["id"]) == ["alpha-1.0-1.x86_64.rpm",
                                                       "beta-2.0-1.noarch.rpm"]
    # a task made by hand is taken at once too
    task_id = s.makeTask("sleep", [0])
    info = hub.wait_task(s, task_id, timeout=60)
    assert info["state"] == koji.TASK_STATES["CLOSED"]


def test_without_wait_work_the_builder_only_polls(sqlite_qhub, demo_rpms):  # noqa: F811
    """The same with ``--no-wait-work``: the change waits for the next poll (300 s away)."""
    hub = sqlite_qhub
    s, first = _idle_builder_on_tag(hub, demo_rpms, "poll", "--no-wait-work")
    s.tagBuildBypass("poll-build", "beta-2.0-1")
    time.sleep(8.0)
    assert s.getRepo("poll-build")["id"] == first["id"]
    assert "waitWork" not in hub.builder_log("b1")


def test_the_bell_rings_only_for_what_may_give_a_builder_work(sqlite_qhub):
    """The bell's count (host.waitWork with no ``seen``) moves for a new task, a tag change
    and a subtask that ends while its parent runs on another host; not for the repo that
    repoInit makes, nor for a subtask that ends beside its parent (our builder's task process
    wakes the parent's process itself): each ring costs every waiting builder a cycle."""
    import koji.xmlrpcplus

    result = koji.xmlrpcplus.dumps((None,), methodresponse=1, allow_none=1)
    hub = sqlite_qhub
    hub.add_builder_hosts()
    admin, b1, b2 = hub.session(), hub.session("b1"), hub.session("b2")

    def seq():
        return b1.host.waitWork(None)["seq"]

    admin.createTag("bell-build", arches="x86_64")
    before = seq()
    parent = admin.makeTask("sleep", [1])
    assert seq() > before                       # a new task
    assert b1.host.openTask(parent)["id"] == parent
    before = seq()
    repo_id, _event = b1.host.repoInit("bell-build", task_id=parent)
    assert seq() == before                      # the INIT repo's event: no work in it
    admin.createTag("bell-other")
    assert seq() > before                       # a change of tags
    near = b1.host.subtask("sleep", [0], parent, label="near")
    far = b1.host.subtask("sleep", [0], parent, label="far")
    b1.host.taskSetWait(parent, [near, far])
    assert b1.host.openTask(near) and b2.host.openTask(far)
    before = seq()
    b1.host.closeTask(near, result)
    assert seq() == before                      # its parent's host is the same
    b2.host.closeTask(far, result)
    assert seq() > before                       # the parent's host is another
    before = seq()
    b1.host.repoDone(repo_id, {})
    assert seq() == before
    assert admin.repoInfo(repo_id)["state"] == koji.REPO_STATES["READY"]


def test_an_assignment_to_another_host_rings_only_that_hosts_bell(qhub):
    """A host's getTasks runs the scheduler for every host: the tasks it assigns to another
    host ring that host's bell (its waiter wakes it for its own getTasks) and not the bell of
    every builder; the caller's own assignments come in its answer."""
    hub = qhub
    hub.add_builder_hosts()
    admin, b1, b2 = hub.session(), hub.session("b1"), hub.session("b2")
    b1_id, b2_id = b1.host.getID(), b2.host.getID()
    assert b1_id < b2_id   # equally loaded hosts: the first task goes to the lower id
    for b in (b1, b2):
        b.host.updateHost(0.0, True)

    def counts():
        return b1.host.waitWork(None)["seq"], b2.host.waitWork(None)["seq"]

    first = admin.makeTask("sleep", [0])
    one, two = counts()
    assert [t["id"] for t in b1.host.getTasks()] == [first]
    assert counts() == (one, two)               # b1 got its task in its answer
    second = admin.makeTask("sleep", [0])
    one, two = counts()
    assert [t["id"] for t in b1.host.getTasks()] == [first]
    # the run assigned the second task to b2 (less loaded): only b2's count moved
    assert admin.getTaskInfo(second)["host_id"] == b2_id
    now_one, now_two = counts()
    assert now_one == one and now_two > two
    # b2's wait for the count it last saw returns at once with the new one
    answer = b2.host.waitWork(two, 10)
    assert answer["seq"] == now_two and answer["seq"] != two
    assert [t["id"] for t in b2.host.getTasks()] == [second]


def test_subtasks_assigned_in_the_request_that_made_them_ring_no_bell(qhub):
    """A task process of our builder asks host.getTasks in the call that makes its subtasks
    (builder/taskctx.py): the scheduler assigns them there, the caller's come in its answer
    (its daemon takes them from it) and another host's ring that host's bell only. The bell
    of every builder rings as before for a subtask made alone, and for one that the run left
    FREE (no host fits it)."""
    hub = qhub
    hub.add_builder_hosts()
    admin, b1, b2 = hub.session(), hub.session("b1"), hub.session("b2")
    b1_id, b2_id = b1.host.getID(), b2.host.getID()
    for b in (b1, b2):
        b.host.updateHost(0.0, True)

    def counts():
        return b1.host.waitWork(None)["seq"], b2.host.waitWork(None)["seq"]

    # one open task of no weight on each host: equal, so the lower id (b1) gets the next
    parent = admin.makeTask("sleep", [1])
    assert [t["id"] for t in b1.host.getTasks()] == [parent]
    assert b1.host.openTask(parent)["id"] == parent
    b1.host.setTaskWeight(parent, 0.0)
    busy = admin.makeTask("sleep", [1])
    assert [t["id"] for t in b2.host.getTasks()] == [busy]
    assert b2.host.openTask(busy)["id"] == busy
    b2.host.setTaskWeight(busy, 0.0)
    assert b1_id < b2_id
    before = counts()
    with b1.multicall(strict=True) as m:
        made = m.host.subtask("sleep", [0], parent, label="mine")
        mine = m.host.getTasks()
    assert [t["id"] for t in mine.result] == [made.result]
    assert admin.getTaskInfo(made.result)["host_id"] == b1_id
    assert counts() == before                   # no bell: b1 has it in its answer
    # b1 loaded now: the next child goes to b2, whose bell alone rings
    b1.host.setTaskWeight(parent, 3.0)
    before = counts()
    with b1.multicall(strict=True) as m:
        other = m.host.subtask("sleep", [0], parent, label="other")
        mine = m.host.getTasks()
    assert admin.getTaskInfo(other.result)["host_id"] == b2_id
    assert other.result not in [t["id"] for t in mine.result]
    now = counts()
    assert now[0] == before[0] and now[1] > before[1]
    # a child no host can take (an arch no host has) stays FREE: every bell rings
    before = counts()
    with b1.multicall(strict=True) as m:
        left = m.host.subtask("sleep", [0], parent, label="left", arch="s390x")
        m.host.getTasks()
    assert admin.getTaskInfo(left.result)["state"] == koji.TASK_STATES["FREE"]
    now = counts()
    assert now[0] > before[0] and now[1] > before[1]
    # and a subtask made alone rings every bell, as before
    before = counts()
    b1.host.subtask("sleep", [0], parent, label="alone")
    now = counts()
    assert now[0] > before[0] and now[1] > before[1]


def test_a_createrepo_child_is_taken_as_its_parent_handed_it(sqlite_qhub, demo_rpms):  # noqa: F811
    """The newRepo task's process makes its createrepo child and asks host.getTasks in the
    same call; the daemon takes the child from what that call answered (the pipe from its task
    processes), without a cycle of its own, and the repo is made as before."""
    hub = sqlite_qhub
    s, first = _idle_builder_on_tag(hub, demo_rpms, "hand", "--wait-work")
    s.tagBuildBypass("hand-build", "beta-2.0-1")
    repo = _wait_repo_after(s, "hand-build", s.tagLastChangeEvent("hand-build"), timeout=60)
    assert repo["id"] > first["id"] and repo["state"] == koji.REPO_STATES["READY"]
    assert _pkglist(hub, "hand-build", repo["id"]) == ["alpha-1.0-1.x86_64.rpm",
                                                       "beta-2.0-1.noarch.rpm"]
    log = hub.builder_log("b1")
    assert "handed over by task process" in log
    kids = [t for t in s.listTasks(opts={"parent": repo["task_id"]})]
    assert [k["method"] for k in kids] == ["createrepo"]
    assert all(k["state"] == koji.TASK_STATES["CLOSED"] for k in kids)
