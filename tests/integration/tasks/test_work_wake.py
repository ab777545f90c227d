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
