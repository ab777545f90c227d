"""Two of our builders (pungi-like-builder: kojid's TaskManager with our handlers) share 200
mixed tasks on PostgreSQL: none is lost or run twice, and the hub's scheduler balances them.

Balance is forced by limits, not by timing: each builder reports ``maxjobs`` 3, so the scheduler
never gives one host more than three tasks at a time; while one host is full, every new
assignment goes to the other. Each task also runs for a second, far longer than a poll, so a
host cannot finish its three before the other has taken its own."""

from __future__ import annotations

import collections
import re
import time

import koji
import pytest

pytestmark = pytest.mark.postgres

ST = koji.TASK_STATES


def test_two_builders_share_200_mixed_tasks(pg_patient_qhub):
    hub = pg_patient_qhub
    hub.add_builder_hosts(names=("b1", "b2"), channels=())
    for name in ("b1", "b2"):
        hub.start_builder(name, capacity=4.0, extra=["--maxjobs", "3"])
    s = hub.session()
    ids = []
    # mixed: our sleep handler and koji.tasks' fork (which starts processes of its own). No
    # parents that wait for children: with three jobs per host, six waiting parents would hold
    # every slot (kojid counts waiting tasks against maxjobs too)
    for i in range(200):
        if i % 10 < 7:
            ids.append(s.makeTask("sleep", [1]))
        else:
            ids.append(s.makeTask("fork", [1, 1]))
    end = time.monotonic() + 900      # an upper bound on a loaded machine, not a measurement
    while True:
        left = [t for t in s.listTasks(opts={"state": [ST["FREE"], ST["ASSIGNED"], ST["OPEN"]]})]
        if not left:
            break
        assert time.monotonic() < end, "tasks left: %s" % [(t["id"], t["state"]) for t in left]
        time.sleep(2)

    every = s.listTasks()
    hosts = {h["id"]: h["name"] for h in s.listHosts()}
    # none lost: every task, the 200 and their children, closed, on one of the two builders
    assert len(ids) == 200 and set(ids) <= {t["id"] for t in every}
    assert all(t["state"] == ST["CLOSED"] for t in every), \
        [(t["id"], t["method"], ST[t["state"]]) for t in every if t["state"] != ST["CLOSED"]]
    assert {hosts[t["host_id"]] for t in every} == {"b1", "b2"}
    # none run twice: one scheduler run (assignment) per task, on the host that ran it ...
    runs = collections.defaultdict(list)
    for r in s.scheduler.getTaskRuns():
        runs[r["task_id"]].append(r["host_id"])
    for t in every:
        assert runs[t["id"]] == [t["host_id"]], (t["id"], runs[t["id"]], t["host_id"])
    # ... and one task process per task across both builders' logs
    started = collections.Counter()
    for name in ("b1", "b2"):
        for m in re.finditer(r"task (\d+) \(\w+\) started in process", hub.builder_log(name)):
            started[int(m.group(1))] += 1
    assert set(started) == {t["id"] for t in every}
    assert set(started.values()) == {1}, [t for t, n in started.items() if n != 1]
    # balanced: of the 200, neither builder ran fewer than a third
    per_host = collections.Counter(hosts[t["host_id"]] for t in every if t["id"] in set(ids))
    assert min(per_host.values()) >= 200 / 3, per_host
