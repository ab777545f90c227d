"""The hub-side scheduler (issue 16): FREE tasks are ASSIGNED to ready hosts by channel, arch,
methods and free capacity; a host sees and opens only its own assignments; unopened
assignments and refusals send a task elsewhere; ``subtask(assign=...)`` pins a child to a host;
``host.tagNotification`` is accepted as kojid calls it."""

from __future__ import annotations

import time

import koji
import pytest

ST = koji.TASK_STATES


@pytest.fixture
def ahub(assign_qhub):
    return assign_qhub


def _hosts(hub, capacity=2.0):
    admin = hub.session()
    hosts = {}
    for name in ("b1", "b2"):
        hub.koji("add-host", name, "x86_64")
        hub.koji("edit-host", name, "--capacity", capacity)
        hs = hub.session(name)
        hs.host.updateHost(0.0, True, {"methods": ["sleep", "waittest"], "maxjobs": 5})
        hosts[name] = (hs, admin.getHost(name)["id"])
    return admin, hosts


def _assigned(admin, tids):
    return {t: (admin.getTaskInfo(t)["state"], admin.getTaskInfo(t)["host_id"]) for t in tids}


def test_tasks_are_assigned_by_capacity_methods_and_seen_only_by_their_host(ahub):
    admin, hosts = _hosts(ahub)
    (b1, b1_id), (b2, b2_id) = hosts["b1"], hosts["b2"]
    sleeps = [admin.makeTask("sleep", [1]) for _ in range(5)]
    fork = admin.makeTask("fork", [1, 1])          # no host reported the method
    other_arch = admin.makeTask("sleep", [1], arch="ppc64le")
    mine = b1.host.getTasks()
    state = _assigned(admin, sleeps + [fork, other_arch])
    # two hosts of capacity 2, tasks of weight 1: two each, shared evenly; the fifth waits
    assert sorted(h for st, h in state.values() if st == ST["ASSIGNED"]) == [b1_id] * 2 + [b2_id] * 2
    assert state[sleeps[4]] == (ST["FREE"], None)
    assert state[fork] == (ST["FREE"], None) and state[other_arch] == (ST["FREE"], None)
    # priority then age: the first four tasks, and b1 sees only its own, all ASSIGNED to it
    assert {t["id"] for t in mine} | {t for t, v in state.items() if v[1] == b2_id} == set(sleeps[:4])
    assert all(t["state"] == ST["ASSIGNED"] and t["host_id"] == b1_id for t in mine)
    theirs = [t for t, v in state.items() if v[1] == b2_id]
    assert b1.host.openTask(theirs[0]) is None   # another host's assignment is not ours to open
    # as in Koji, an ASSIGNED task has not started: start_ts is set when it is opened
    assert admin.getTaskInfo(mine[0]["id"])["start_ts"] is None
    before = time.time()
    opened = b1.host.openTask(mine[0]["id"])
    info = admin.getTaskInfo(mine[0]["id"])
    assert opened["id"] == mine[0]["id"] and info["state"] == ST["OPEN"]
    assert info["start_ts"] >= before - 1


def test_refused_and_stale_assignments_go_to_another_host(ahub):
    admin, hosts = _hosts(ahub, capacity=1.0)
    (b1, b1_id), (b2, b2_id) = hosts["b1"], hosts["b2"]
    first = admin.makeTask("sleep", [1], priority=10)
    second = admin.makeTask("sleep", [1], priority=11)
    b1.host.getTasks()
    got = _assigned(admin, [first, second])
    on_b1 = [t for t, v in got.items() if v == (ST["ASSIGNED"], b1_id)]
    on_b2 = [t for t, v in got.items() if v == (ST["ASSIGNED"], b2_id)]
    assert len(on_b1) == 1 and len(on_b2) == 1
    # b1 refuses its task: it goes FREE and, at the next run, not back to b1
    b1.host.refuseTask(on_b1[0], soft=True, msg="not today")
    b2.host.openTask(on_b2[0])
    b2.host.closeTask(on_b2[0], koji.xmlrpcplus.dumps((None,), methodresponse=1,
                                                      allow_none=1))
    assert [t["id"] for t in b2.host.getTasks()] == on_b1
    assert b1.host.getTasks() == []
    # b2 never opens it: after AssignTimeout (2 s) the next run takes it back from b2; both
    # hosts have now refused it (b1 explicitly, b2 by timeout), so it waits FREE for another
    time.sleep(2.5)
    assert b1.host.getTasks() == []
    info = admin.getTaskInfo(on_b1[0])
    assert (info["state"], info["host_id"]) == (ST["FREE"], None)
    # the scheduler's record (koji scheduler-info / scheduler-logs): two ended runs, and why
    runs = admin.scheduler.getTaskRuns(clauses=[["task_id", on_b1[0]]],
                                       fields=["task_id", "host_id", "active"])
    assert [(r["host_id"], r["active"]) for r in runs] == [(b1_id, False), (b2_id, False)]
    msgs = admin.scheduler.getLogMessages(clauses=[["task_id", on_b1[0]]],
                                          fields=["host_id", "msg"])
    assert [(m["host_id"], m["msg"]) for m in msgs] == [
        (b1_id, "assigned"), (b1_id, "refused: not today"), (b2_id, "assigned"),
        (b2_id, "assignment timed out")]
    out = ahub.koji("scheduler-logs", "--task", on_b1[0]).stdout
    assert "b2" in out and "assignment timed out" in out, out


def test_subtask_assign_pins_the_child_and_tag_notification(ahub):
    admin, hosts = _hosts(ahub)
    (b1, b1_id), (b2, b2_id) = hosts["b1"], hosts["b2"]
    parent = admin.makeTask("waittest", [1, 1])
    assert [t["id"] for t in b1.host.getTasks()] == [parent] or \
        [t["id"] for t in b2.host.getTasks()] == [parent]
    holder = b1 if admin.getTaskInfo(parent)["host_id"] == b1_id else b2
    holder.host.openTask(parent)
    child = holder.host.subtask("sleep", [1], parent, assign="b2", label="pinned")
    info = admin.getTaskInfo(child)
    assert (info["state"], info["host_id"]) == (ST["ASSIGNED"], b2_id)
    assert child in [t["id"] for t in b2.host.getTasks()]
    with pytest.raises(koji.GenericError, match="Invalid hostInfo"):
        holder.host.subtask("sleep", [1], parent, assign="nosuchhost")

    # tagNotification as kojid's tagBuild handler calls it after tagging
    admin.createTag("f-test")
    admin.createEmptyBuild("pkg", "1", "1", None)
    build = admin.getBuild("pkg-1-1")
    tag = admin.getTag("f-test")
    user = admin.getLoggedInUser()
    assert b1.host.tagNotification(True, tag["id"], None, build["id"], user["id"]) is None
    assert b1.host.tagNotification(False, tag["id"], tag["id"], build["id"], user["id"],
                                   False, "tagging failed") is None
    with pytest.raises(koji.GenericError, match="No such"):
        b1.host.tagNotification(True, tag["id"], None, build["id"] + 1000, user["id"])
    with pytest.raises(koji.AuthError):
        admin.host.tagNotification(True, tag["id"], None, build["id"], user["id"])


def test_a_burst_of_createrepo_tasks_does_not_starve_other_work(ahub):
    admin, hosts = _hosts(ahub, capacity=100.0)
    (b1, _), _ = hosts["b1"], hosts["b2"]
    for name in hosts:
        ahub.koji("add-host-to-channel", name, "createrepo")
    burst = [admin.makeTask("sleep", [1], channel="createrepo", priority=10) for _ in range(15)]
    build = admin.makeTask("sleep", [1], priority=20)     # later and less urgent
    b1.host.getTasks()
    states = [admin.getTaskInfo(t)["state"] for t in burst]
    # each host (maxjobs 5, also in "default") holds at most 2 createrepo-channel tasks, in
    # priority/age order; the less urgent build still gets a host
    assert states == [ST["ASSIGNED"]] * 4 + [ST["FREE"]] * 11
    assert admin.getTaskInfo(build)["state"] == ST["ASSIGNED"]


def test_a_per_run_limit_that_left_tasks_rings_the_work_bell(tmp_path, task_pki):
    """A builder of ours idles after the tasks it took (it does not poll again at once as
    kojid does), so when the scheduler's per-run limit left tasks a host has room for, the
    work bell rings: the next run, at a woken builder's getTasks, assigns them."""
    from tests.integration.tasks.conftest import start_queue_hub, stop_queue_hub

    hub = start_queue_hub(tmp_path, task_pki, "sqlite", host_timeout=600.0,
                          max_createrepo_per_run=1)
    try:
        admin, hosts = _hosts(hub, capacity=100.0)
        (b1, _), _ = hosts["b1"], hosts["b2"]
        for name in hosts:
            hub.koji("add-host-to-channel", name, "createrepo")
        burst = [admin.makeTask("sleep", [1], channel="createrepo") for _ in range(2)]

        def seq():
            return b1.host.waitWork(None)["seq"]

        before = seq()
        b1.host.getTasks()
        assert [admin.getTaskInfo(t)["state"] for t in burst] == [ST["ASSIGNED"], ST["FREE"]]
        assert seq() > before          # one left by the limit: the builders are woken
        before = seq()
        b1.host.getTasks()
        assert [admin.getTaskInfo(t)["state"] for t in burst] == [ST["ASSIGNED"]] * 2
        assert seq() == before         # nothing left: no ring
    finally:
        stop_queue_hub(hub)
