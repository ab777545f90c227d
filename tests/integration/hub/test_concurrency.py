"""Finding 3 of issue 8: concurrent writers must not leave two current rows for one key.

8 clients (threads, each its own HTTPS session) tag the same builds into the same tag at once,
then edit the same tag at once. Afterwards every build is listed once, one untag removes it, the
tag has one config row carrying every client's change (no lost update), and no versioned table
has two active rows for one of Koji's unique keys. Run on both backends; PostgreSQL is where
today's code broke (SQLite writers are serialised by the hub's write lock).
"""

from __future__ import annotations

import threading

import koji
import pytest
from hubcheck_helpers import duplicate_active_rows, session

pytestmark = pytest.mark.integration

CLIENTS = 8
BUILDS = 5


def _run_together(func, clients):
    """Run ``func(i, session)`` in one thread per client, all released at once; return the
    exceptions raised (by index) and the results."""
    barrier = threading.Barrier(len(clients))
    results, errors = {}, {}

    def worker(i, sess):
        barrier.wait(timeout=120)
        try:
            results[i] = func(i, sess)
        except Exception as exc:  # noqa: BLE001 - collected and judged by the test
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i, s)) for i, s in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return results, errors


def test_concurrent_tagging_and_tag_edits_keep_one_active_row(hub):
    admin = session(hub)
    admin.createTag("race-tag", arches="x86_64")
    admin.packageListAdd("race-tag", "racepkg", owner="kojiadmin")
    builds = [admin.createEmptyBuild("racepkg", "1.0", str(r), None)
              for r in range(1, BUILDS + 1)]
    clients = [session(hub) for _ in range(CLIENTS)]

    for build_id in builds:
        # half the clients go through the tagBuild task, half through tagBuildBypass
        def tag(i, sess, build_id=build_id):
            if i % 2:
                return sess.tagBuildBypass("race-tag", build_id)
            task_id = sess.tagBuild("race-tag", build_id)
            return admin.getTaskInfo(task_id)["state"]

        results, errors = _run_together(tag, clients)
        # Every call is answered: a winner, the others a Koji "already tagged" answer (a failed
        # tagBuild task or a TagError), never a database error.
        for exc in errors.values():
            assert isinstance(exc, koji.GenericError), repr(exc)
            assert "already tagged" in str(exc), str(exc)
        assert "database" not in " ".join(str(e) for e in errors.values())

    tagged = sorted(b["build_id"] for b in admin.listTagged("race-tag"))
    assert tagged == sorted(builds), "a build is listed more than once (or missing): %s" % tagged
    assert duplicate_active_rows(hub) == {}

    for build_id in builds:
        admin.untagBuild("race-tag", build_id)
    assert admin.listTagged("race-tag") == [], "one untag left the build tagged"

    # 8 concurrent edits of one tag, each changing its own extra key and the arches
    def edit(i, sess):
        sess.editTag2("race-tag", arches="x86_64 arch%d" % i, extra={"key%d" % i: i})

    results, errors = _run_together(edit, clients)
    assert errors == {}, errors
    assert [t["name"] for t in admin.listTags() if t["name"] == "race-tag"] == ["race-tag"]
    info = admin.getTag("race-tag")
    assert info["arches"] in {"x86_64 arch%d" % i for i in range(CLIENTS)}
    # no lost update: every client's key is there
    assert info["extra"] == {"key%d" % i: i for i in range(CLIENTS)}
    assert duplicate_active_rows(hub) == {}
    history = admin.queryHistory(tables=["tag_config"], tag="race-tag")["tag_config"]
    assert sum(1 for h in history if h["active"]) == 1
