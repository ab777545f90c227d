"""Housekeeping of the task queue and the repos (what Koji's scheduler and kojira do).

Task assignment (FREE -> ASSIGNED to a host) is in assignment.py; :func:`assign` runs it at
every ``host.getTasks``. The housekeeping here runs from ``host.getTasks`` at most every
``run_interval`` seconds (so it runs while builders poll, inside their call's transaction), or
directly by :func:`maintain`:

* hosts that have not checked in for ``host_timeout`` seconds are marked not ready and their
  OPEN/ASSIGNED tasks are freed, so another builder takes them (a task is never lost);
* active repo requests get newRepo tasks (retried up to ``repo_retries`` times);
* build tags (and tags with ``repo.auto``) whose content changed after their newest repo get a
  request, so their repos regenerate without anyone asking;
* dist repos (``koji dist-repo``): INIT ones whose task failed become PROBLEM, READY ones older
  than ``dist_repo_lifetime`` that are not their tag's newest become EXPIRED (kojira's rules);
* EXPIRED repos older than ``repo_delete_grace`` seconds lose their files and become DELETED.

Settings: :data:`DEFAULTS`, then ``<topdir>/.hub/queue.json`` (same keys), then hub.conf's
Koji options MaxJobs, CapacityOvercommit, ReadyTimeout, AssignTimeout, SoftRefusalTimeout,
HostTimeout and RunInterval (HubConfig fields, :data:`HUB_CONF_KEYS`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import koji
from sqlalchemy import insert, select, update

from ..db import RerunWithSavepoints, pg_aborted, savepoint, writes_of
from ..db import schema as s
from .context import context
from .settingsfile import read_settings, update_settings

log = logging.getLogger("pungi_like.buildsvc.hub.scheduler")

DEFAULTS = {
    "host_timeout": 300.0,        # seconds without check-in before a host's tasks are freed
    "run_interval": 5.0,          # seconds between housekeeping runs
    "repo_retries": 3,
    "repo_delete_grace": 3600.0,  # seconds an EXPIRED repo keeps its files
    "dist_repo_lifetime": 7 * 86400.0,  # kojira's dist_repo_lifetime: READY dist repos older
                                  # than this (but the newest of their tag) are expired
    "auto_repos": True,           # regenerate build tag repos on change
    "repo_user": "kojira",        # owner of automatic repo requests and their tasks
    # tagBuild tasks: False (Koji) - a builder runs them (host.tagBuild); True - the hub runs
    # them at once, for a hub that has no builder (tests of the hub alone)
    "tag_tasks_in_hub": False,
    # task assignment (assignment.py); Koji's [scheduler] option in the comment
    "ready_timeout": 180.0,       # ReadyTimeout: a host silent this long gets no new tasks
    "assign_timeout": 300.0,      # AssignTimeout: an assignment not opened this long is freed
    "soft_refusal_timeout": 900.0,  # SoftRefusalTimeout: a soft refusal keeps a task away
    "max_jobs": 15,               # MaxJobs: most OPEN+ASSIGNED tasks per host
    "capacity_overcommit": 5.0,   # CapacityOvercommit: load allowed above a host's capacity
    "max_createrepo_per_run": 10,  # createrepo-channel tasks assigned per run (fairness)
    "max_tasks_per_run": 1000,    # FREE tasks considered per run
    "log_retention": 14 * 86400.0,  # seconds scheduler log messages and ended runs are kept
}
SETTINGS_NAME = os.path.join(".hub", "queue.json")
#: settings that hub.conf sets with Koji's [scheduler] option names (MaxJobs -> max_jobs ...)
HUB_CONF_KEYS = ("max_jobs", "capacity_overcommit", "ready_timeout", "assign_timeout",
                 "soft_refusal_timeout", "host_timeout", "run_interval")

_lock = threading.Lock()
_last_run = {}


def settings(hub=None) -> dict:
    hub = hub or context.hub
    cached = getattr(hub, "_queue_settings", None)
    if cached is None:
        cached = read_settings(hub.pathinfo.topdir, SETTINGS_NAME, DEFAULTS)
        # hub.conf's Koji options (HubConfig fields of the same names) win over both
        config = getattr(hub, "config", None)
        for key in HUB_CONF_KEYS:
            value = getattr(config, key, None)
            if value is not None:
                cached[key] = value
        hub._queue_settings = cached
    return cached


def write_settings(topdir, **values):
    """Store queue settings for the hub of ``topdir`` (read when the hub starts)."""
    update_settings(topdir, SETTINGS_NAME, values)


def note_change(hub, repos=True):
    """A call that wrote an event (a tag change among others; ``repos``) or asked to wake the
    builders (a task created or back in the queue, a subtask ended) has committed.

    After an event the next :func:`maybe_maintain` looks for changed automatic tags at once
    instead of waiting for ``run_interval`` (the check is cheap and finds nothing when the
    change touched no tag). Either way builders waiting in ``host.waitWork`` are woken, so
    that next ``host.getTasks`` comes at once rather than after a poll interval
    (work_bell.py)."""
    from .work_bell import ring

    if repos:
        hub._repo_check_due = True
    ring(hub)


def maybe_maintain():
    """Run :func:`maintain` if ``run_interval`` has passed since the last run; else, when a
    change was committed since the last check (:func:`note_change`), only
    :func:`auto_requests`. Returns True when :func:`maintain` ran."""
    hub = context.hub
    key = id(hub)
    now = time.monotonic()
    with _lock:
        due = getattr(hub, "_repo_check_due", False)
        hub._repo_check_due = False
        run = now - _last_run.get(key, -1e9) >= float(settings()["run_interval"])
        if run:
            _last_run[key] = now
    # taken from the hub: given back when this request's transaction is rolled back
    context.repo_check_taken = context.repo_check_taken or due or (
        run and bool(settings()["auto_repos"]))
    if not run:
        if due and settings()["auto_repos"]:
            _guarded("housekeeping", auto_requests, "automatic repo check failed")
        return False
    _guarded("housekeeping", maintain, "queue housekeeping failed")
    return True


def rolled_back(hub):
    """The current request's transaction was rolled back (it runs again, or ends in a fault):
    an automatic repo check it took (:func:`maybe_maintain`) is due again, so the rerun or
    the next ``host.getTasks`` makes the requests whose rows were rolled back."""
    if context.repo_check_taken:
        hub._repo_check_due = True


def _guarded(name, work, failure):
    """``work()``, whose failure is logged and leaves the transaction as it found it: the
    housekeeping and the assignment must never fail a builder's poll. Returns its result,
    None when it failed.

    On SQLite in a savepoint (``begin_nested``: no round trips). On PostgreSQL a savepoint
    is a round trip to the server, and these blocks run in every ``host.getTasks`` and almost
    never fail: so they run without one, as a multicall's entries do (hub/dispatch.py). A
    failure before any write of the block (:func:`db.writes_of` unmoved) has nothing to undo;
    one after a write, or in the database (the transaction is then aborted), raises
    :class:`db.RerunWithSavepoints`: the request's transaction is rolled back and it runs
    again with ``context.every_savepoint``, where the block takes its savepoint and a failure
    is rolled back to it and logged, as before."""
    conn = context.conn
    if conn.dialect.name != "postgresql" or context.every_savepoint:
        try:
            with savepoint(conn, name):
                return work()
        except Exception:
            log.exception(failure)
            return None
    writes = writes_of(conn)
    try:
        return work()
    except Exception as exc:
        if writes_of(conn) != writes or pg_aborted(conn):
            raise RerunWithSavepoints() from exc
        log.exception(failure)
        return None


def assign():
    """Assign FREE tasks to hosts (assignment.py), the failure of a run logged
    (:func:`_guarded`); returns what was assigned. Runs at every ``host.getTasks`` so a FREE
    task waits at most one builder poll."""
    from .assignment import schedule

    return _guarded("assignment", lambda: schedule(settings()), "task assignment failed") or []


def maintain():
    cfg = settings()
    free_dead_hosts(float(cfg["host_timeout"]))
    from .repo_requests import check_queue

    if cfg["auto_repos"]:
        auto_requests()
    check_queue(int(cfg["repo_retries"]))
    from .distrepos import dist_repo_housekeeping

    dist_repo_housekeeping(float(cfg["dist_repo_lifetime"]))
    delete_expired_repos(float(cfg["repo_delete_grace"]))
    from .sched_log import prune

    prune(float(cfg["log_retention"]))


def free_dead_hosts(timeout):
    """Free the tasks of hosts silent for ``timeout`` seconds; returns the freed task ids.

    The silent hosts' rows are locked first (``FOR UPDATE``; SQLite has one writer anyway).
    On PostgreSQL each statement sees what was committed when it began: a host's first
    check-in, with the tasks the same request assigned it, committed between a plain read of
    the hosts and the read of their tasks had those tasks freed and the host marked not
    ready a second after it checked in (seen: two builders' 200 tasks, one assigned twice).
    A locked read takes a row that a check-in changed meanwhile as it is now (no longer
    silent, so left alone), and a check-in that comes later waits for this transaction."""
    ST = koji.TASK_STATES
    cutoff = time.time() - timeout
    h, t = s.host, s.task
    dead = [r[0] for r in context.conn.execute(select(h.c.id).where(
        (h.c.update_ts.is_(None)) | (h.c.update_ts < cutoff)).order_by(h.c.id)
        .with_for_update())]
    if not dead:
        return []
    ids = [r[0] for r in context.conn.execute(select(t.c.id).where(
        t.c.host_id.in_(dead), t.c.state.in_([ST["OPEN"], ST["ASSIGNED"]])))]
    if ids:
        log.warning("freeing tasks %s of hosts not seen for %ss", ids, timeout)
        context.conn.execute(update(t).where(t.c.id.in_(ids), t.c.state.in_(
            [ST["OPEN"], ST["ASSIGNED"]])).values(state=ST["FREE"], host_id=None,
                                                  start_ts=None))
    context.conn.execute(update(h).where(h.c.id.in_(dead), h.c.ready.is_(True))
                         .values(ready=False))
    return ids


def _system_user(name):
    row = context.conn.execute(select(s.users.c.id).where(s.users.c.name == name)).first()
    if row:
        return row[0]
    return context.conn.execute(insert(s.users).values(name=name, status=0, usertype=0)
                                .returning(s.users.c.id)).scalar_one()


def auto_tags():
    """Tag ids whose repos regenerate automatically: build tags of targets and tags with
    ``repo.auto`` true, minus tags with ``repo.auto`` false."""
    btc, te = s.build_target_config, s.tag_extra
    ids = {r[0] for r in context.conn.execute(select(btc.c.build_tag).where(
        btc.c.active.is_(True)))}
    for r in context.conn.execute(select(te.c.tag_id, te.c.value).where(
            te.c.key == "repo.auto", te.c.active.is_(True))):
        try:
            on = bool(json.loads(r.value)) if r.value is not None else False
        except ValueError:
            on = r.value not in ("", "0", "false", "False")
        (ids.add if on else ids.discard)(r.tag_id)
    return sorted(ids)


def auto_requests():
    """Queue a request for each automatic tag changed since its newest repo; returns tag ids."""
    from .events import tag_change_events
    from .inheritance import read_full_inheritance
    from .repo_requests import REPO_PRIORITY, request_task
    from .repos import NEWREPO_CHANNEL, STATES

    rq, r, tc, ch = s.repo_queue, s.repo, s.tag_config, s.channels
    repo_user = settings()["repo_user"]
    queued = []
    for tag_id in auto_tags():
        # (arches only from an active config: a tag without one is skipped, as one that
        # get_tag_row does not find; its name comes with them, for a request)
        found = context.conn.execute(select(tc.c.arches, s.tag.c.name).join_from(
            tc, s.tag, s.tag.c.id == tc.c.tag_id).where(
            tc.c.tag_id == tag_id, tc.c.active.is_(True))).first()
        if found is None or not (found.arches or "").split():
            continue
        # tagLastChangeEvent(tag_id), the tag known to exist: its and its parents' changes
        last = max(tag_change_events(
            [tag_id] + [link["parent_id"] for link in read_full_inheritance(tag_id)], "max"),
            default=None)
        if last is None:
            continue
        # the tag's newest repo with the default options and a pending request that covers
        # the change, in one statement; with them what a request's task needs: the repo
        # user's id and the createrepo channel (each looked up by name in a statement of its
        # own before)
        newest, pending, user_id, chan_id, chan_enabled = context.conn.execute(select(
            select(r.c.create_event).where(
                r.c.tag_id == tag_id, r.c.dist.is_(False),
                r.c.state.in_([STATES["INIT"], STATES["READY"]]),
                r.c.custom_opts.in_(["{}", None])).order_by(r.c.create_event.desc()).limit(1)
            .scalar_subquery(),
            select(rq.c.id).where(
                rq.c.tag_id == tag_id, rq.c.active.is_(True), rq.c.opts == "{}",
                rq.c.at_event.is_(None), rq.c.min_event >= last).limit(1)
            .scalar_subquery(),
            select(s.users.c.id).where(s.users.c.name == repo_user).scalar_subquery(),
            select(ch.c.id).where(ch.c.name == NEWREPO_CHANNEL).scalar_subquery(),
            select(ch.c.enabled).where(ch.c.name == NEWREPO_CHANNEL).scalar_subquery())).one()
        if newest is not None and newest >= last or pending is not None:
            continue
        now = time.time()
        values = dict(create_time=now, update_time=now,
                      owner=user_id if user_id is not None else _system_user(repo_user),
                      priority=REPO_PRIORITY, tag_id=tag_id, min_event=last, at_event=None,
                      opts="{}", active=True, tries=0, task_id=None, repo_id=None)
        # the request's task first (the tag's name known: no second lookup), so that the
        # request is inserted with it (repo_requests.start_request_task's row: the task and
        # its first try), not inserted and then updated. A missing channel is looked up
        # again by make_task, for its error.
        channel_row = None if chan_id is None else {
            "id": chan_id, "name": NEWREPO_CHANNEL, "enabled": chan_enabled}
        task_id = request_task(values, tag_row={"id": tag_id, "name": found.name},
                               channel_row=channel_row)
        context.conn.execute(insert(rq).values(**dict(values, task_id=task_id, tries=1)))
        queued.append(tag_id)
    return queued


def delete_expired_repos(grace):
    """Remove the files of repos EXPIRED for more than ``grace`` seconds; mark them DELETED."""
    from .repos import STATES, delete_repo_files, set_state

    cutoff = time.time() - grace
    r, br = s.repo, s.buildroot
    in_use = select(br.c.repo_id).where(br.c.state.in_(
        [koji.BR_STATES["INIT"], koji.BR_STATES["WAITING"], koji.BR_STATES["BUILDING"]]),
        br.c.repo_id.is_not(None))
    rows = [dict(x._mapping) for x in context.conn.execute(select(r).where(
        r.c.state == STATES["EXPIRED"], r.c.state_ts < cutoff, r.c.id.not_in(in_use)))]
    for row in rows:
        delete_repo_files(row)
        set_state(row["id"], STATES["DELETED"])
    return [row["id"] for row in rows]
