"""A CI-sized soak of the hub (issue 8): 8 clients at once, then an integrity check.

Each client (a thread with its own koji.ClientSession over HTTPS) runs a fixed number of
operations chosen by a seeded random generator: reads, tagging and untagging the same few builds
in the same few tags (directly and through ``tagBuild`` tasks), editTag2 of a shared tag, and
task creation. The run is bounded by the number of operations, never by time. Afterwards:

* no versioned table has two active rows for one of Koji's unique keys;
* queryHistory matches the acknowledged calls: for every (tag, build) the successful tag calls
  created exactly that many tag_listing rows and the successful untags revoked that many; since
  a tag fails while tagged and an untag fails while untagged, successes alternate, so the final
  tagged set is exactly the pairs with one more tag than untag;
* every client's own extra key on the shared tag holds the last value it set (no lost update);
* every task is in a final or live state, and the ``tagBuild`` tasks all finished, CLOSED exactly
  as often as the history says they tagged.
"""

from __future__ import annotations

import collections
import random
import threading

import koji
import pytest
from hubcheck_helpers import duplicate_active_rows, session

pytestmark = pytest.mark.integration

CLIENTS = 8
OPS_PER_CLIENT = 60
TAGS = ["soak-a", "soak-b"]
BUILDS = 4

#: faults a client may legitimately get while others race it
EXPECTED = ("already tagged", "not in tag")


def _client(i, sess, builds, log, unexpected):
    rng = random.Random(1000 + i)
    for n in range(OPS_PER_CLIENT):
        kind = rng.choices(["read", "tag", "untag", "tagtask", "edit", "task"],
                           weights=[30, 20, 20, 10, 10, 10])[0]
        tag, build = rng.choice(TAGS), rng.choice(builds)
        try:
            if kind == "read":
                sess.getTag(tag)
                sess.listTagged(tag)
                sess.getLatestBuilds(tag)
            elif kind == "tag":
                sess.tagBuildBypass(tag, build)
                log.append(("tag", tag, build))
            elif kind == "untag":
                sess.untagBuildBypass(tag, build)
                log.append(("untag", tag, build))
            elif kind == "tagtask":
                log.append(("tagtask", tag, build, sess.tagBuild(tag, build)))
            elif kind == "edit":
                sess.editTag2(TAGS[0], extra={"soak.client%d" % i: n})
                log.append(("edit", i, n))
            else:
                # a task no builder takes: it must stay FREE (a live state) and be listed
                log.append(("task", sess.newRepo(tag)))
        except koji.GenericError as exc:
            if not (kind in ("tag", "untag") and any(e in str(exc) for e in EXPECTED)):
                unexpected.append((kind, tag, build, str(exc)))
        except Exception as exc:  # noqa: BLE001 - any other failure is a finding
            unexpected.append((kind, tag, build, repr(exc)))


def test_soak_eight_clients_then_integrity(hub):
    admin = session(hub)
    for tag in TAGS:
        admin.createTag(tag, arches="x86_64")
        admin.packageListAdd(tag, "soakpkg", owner="kojiadmin")
    builds = [admin.createEmptyBuild("soakpkg", "1", str(r), None) for r in range(BUILDS)]
    clients = [session(hub) for _ in range(CLIENTS)]
    logs = [[] for _ in range(CLIENTS)]
    unexpected = []
    threads = [threading.Thread(target=_client, args=(i, clients[i], builds, logs[i], unexpected))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert unexpected == [], unexpected[:10]
    entries = [e for log in logs for e in log]
    assert len(entries) > CLIENTS * OPS_PER_CLIENT // 4   # the mix did write

    # tagBuild tasks run in the hub: each finished, CLOSED when it tagged
    tags_ok = collections.Counter()
    untags_ok = collections.Counter()
    for e in entries:
        if e[0] == "tag":
            tags_ok[(e[1], e[2])] += 1
        elif e[0] == "untag":
            untags_ok[(e[1], e[2])] += 1
        elif e[0] == "tagtask":
            info = admin.getTaskInfo(e[3])
            assert info["state"] in (koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"])
            if info["state"] == koji.TASK_STATES["CLOSED"]:
                tags_ok[(e[1], e[2])] += 1
            else:
                with pytest.raises(koji.GenericError, match="already tagged"):
                    admin.getTaskResult(e[3])

    # 1. no duplicate current rows anywhere
    assert duplicate_active_rows(hub) == {}

    # 2. history matches the acknowledged calls, and the final set is what they imply
    tag_ids = {t: admin.getTag(t)["id"] for t in TAGS}
    history = admin.queryHistory(tables=["tag_listing"])["tag_listing"]
    created, revoked = collections.Counter(), collections.Counter()
    for row in history:
        key = ({v: k for k, v in tag_ids.items()}[row["tag_id"]], row["build_id"])
        created[key] += 1
        if row["revoke_event"] is not None:
            revoked[key] += 1
            assert row["revoke_event"] > row["create_event"]
    expected_final = {}
    for tag in TAGS:
        for b in builds:
            key = (tag, b)
            assert created[key] == tags_ok[key], (key, created[key], tags_ok[key])
            assert revoked[key] == untags_ok[key], (key, revoked[key], untags_ok[key])
            assert tags_ok[key] - untags_ok[key] in (0, 1), key
            expected_final.setdefault(tag, set())
            if tags_ok[key] - untags_ok[key] == 1:
                expected_final[tag].add(b)
    for tag in TAGS:
        listed = [b["build_id"] for b in admin.listTagged(tag)]
        assert len(listed) == len(set(listed))
        assert set(listed) == expected_final[tag], tag

    # 3. every client's last edit of the shared tag is there
    extra = admin.getTag(TAGS[0])["extra"]
    for i, log in enumerate(logs):
        edits = [e[2] for e in log if e[0] == "edit"]
        if edits:
            assert extra["soak.client%d" % i] == edits[-1]
    cfg_rows = admin.queryHistory(tables=["tag_config"], tag=TAGS[0], active=True)["tag_config"]
    assert len(cfg_rows) == 1

    # 4. every task is final or live, and every acknowledged one is listed
    live_or_final = {koji.TASK_STATES[s] for s in ("FREE", "OPEN", "ASSIGNED", "CLOSED",
                                                   "CANCELED", "FAILED")}
    tasks = admin.listTasks(opts={}, queryOpts={})
    assert {t["state"] for t in tasks} <= live_or_final
    listed = {t["id"] for t in tasks}
    made = {e[1] for e in entries if e[0] == "task"} | {e[3] for e in entries
                                                       if e[0] == "tagtask"}
    assert made <= listed
