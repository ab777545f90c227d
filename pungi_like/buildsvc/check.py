"""``pungi-like-hub check``: what a Koji admin looks at first, as one cron-friendly report.

Checks, each giving OK, WARN (needs attention) or FAIL (the hub cannot work):

* **database**: reachable, and at the schema version this release expects (older: run
  ``pungi-like-hub migrate``; newer: this release is older than the data);
* **topdir**: exists, is writable, and has at least ``min_free_gib`` free;
* **builders**: every enabled host has checked in within ``builder_age`` minutes (a host that
  never checked in counts too);
* **tasks**: no task has waited FREE longer than ``task_age`` minutes;
* **repos**: no tag's newest READY repo is older than the tag's last change (kojira would have
  regenerated it), for tags that have a repo at all.

The report is plain lines (``OK    what: detail``) or JSON; the exit status is 0 when everything
is OK, 1 when something needs attention, 2 when a check could not run at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass

import koji
from sqlalchemy import func, select

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass
class Finding:
    check: str
    status: str
    detail: str


def _mask_url(url):
    """A database URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    cred, host = rest.rsplit("@", 1)
    user = cred.split(":", 1)[0]
    return f"{scheme}://{user}@{host}" if user else f"{scheme}://{host}"


def _ago(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check_topdir(topdir, min_free_gib):
    if not os.path.isdir(topdir):
        return Finding("topdir", FAIL, f"{topdir} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=topdir, prefix=".check-", delete=True):
            pass
    except OSError as exc:
        return Finding("topdir", FAIL, f"{topdir} is not writable: {exc.strerror}")
    free = shutil.disk_usage(topdir).free / 2**30
    if free < min_free_gib:
        return Finding("topdir", WARN, f"{topdir}: only {free:.1f} GiB free "
                                       f"(want at least {min_free_gib:g} GiB)")
    return Finding("topdir", OK, f"{topdir}: writable, {free:.1f} GiB free")


def check_database(db):
    from .db import LATEST_VERSION, current_version

    try:
        with db.engine.connect() as conn:
            version = current_version(conn)
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return Finding("database", FAIL, f"{_mask_url(db.url)} is not reachable: {reason}")
    where = _mask_url(db.url)
    if version < LATEST_VERSION:
        return Finding("database", WARN, f"{where}: schema version {version}, this release "
                                         f"needs {LATEST_VERSION}: upgrade it with "
                                         f"pungi-like-hub migrate")
    if version > LATEST_VERSION:
        return Finding("database", FAIL, f"{where}: schema version {version} is newer than "
                                         f"this release knows ({LATEST_VERSION})")
    return Finding("database", OK, f"{where}: schema version {version} (current)")


def _in_hub_context(db, config, fn):
    """Run ``fn()`` with the hub's call context set on a read transaction."""
    from .hub.context import context
    from .hub.registry import load_all

    load_all()

    class _Hub:  # what the API functions look up on context.hub
        pass

    hub = _Hub()
    hub.config, hub.db = config, db
    from .pathinfo import PathInfo

    hub.pathinfo = PathInfo(config.topdir)
    with db.engine.begin() as conn:
        context.reset()
        context.hub, context.conn = hub, conn
        try:
            return fn()
        finally:
            context.reset()


def check_builders(db, config, builder_age_min, now):
    from .hub.hosts import _hosts

    def run():
        return [h for h in _hosts() if h.get("enabled")]

    hosts = _in_hub_context(db, config, run)
    if not hosts:
        return Finding("builders", WARN, "no enabled builder host is registered "
                                         "(koji add-host NAME ARCH)")
    stale = []
    for h in hosts:
        ts = h["update_ts"]
        if ts is None:
            stale.append(f"{h['name']} never checked in")
        elif now - ts > builder_age_min * 60:
            stale.append(f"{h['name']} last seen {_ago(now - ts)} ago")
    if stale:
        return Finding("builders", WARN, "; ".join(sorted(stale)) +
                       f" (limit {builder_age_min:g} min)")
    return Finding("builders", OK, f"{len(hosts)} enabled host(s), each seen in the last "
                                   f"{builder_age_min:g} min")


def check_tasks(db, task_age_min, now):
    from .db import schema as s

    limit = now - task_age_min * 60
    t = s.task
    with db.engine.connect() as conn:
        rows = conn.execute(select(t.c.id, t.c.method, t.c.create_ts)
                            .where(t.c.state == koji.TASK_STATES["FREE"], t.c.create_ts < limit)
                            .order_by(t.c.create_ts).limit(6)).all()
        count = conn.execute(select(func.count()).select_from(t).where(
            t.c.state == koji.TASK_STATES["FREE"], t.c.create_ts < limit)).scalar_one()
    if count:
        shown = ", ".join(f"{r.id} ({r.method}, {_ago(now - r.create_ts)})" for r in rows[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        return Finding("tasks", WARN, f"{count} task(s) FREE for more than {task_age_min:g} "
                                      f"min: {shown}{more} (no builder takes them: check "
                                      f"channels, arches and capacity)")
    return Finding("tasks", OK, f"no task FREE for more than {task_age_min:g} min")


def check_repos(db, config):
    from .db import schema as s
    from .hub.events import tagLastChangeEvent

    def run():
        from .hub.context import context

        r = s.repo
        newest = (select(r.c.tag_id, func.max(r.c.create_event).label("event"))
                  .where(r.c.state == koji.REPO_STATES["READY"], r.c.dist.is_(False))
                  .group_by(r.c.tag_id))
        stale = []
        for row in context.conn.execute(newest).all():
            last = tagLastChangeEvent(row.tag_id)
            if last is not None and last > row.event:
                name = context.conn.execute(select(s.tag.c.name).where(
                    s.tag.c.id == row.tag_id)).scalar()
                stale.append((name, row.event, last))
        return stale

    stale = _in_hub_context(db, config, run)
    if stale:
        shown = "; ".join(f"{name} (repo of event {ev}, tag changed at event {last})"
                          for name, ev, last in sorted(stale)[:5])
        more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
        return Finding("repos", WARN, f"{len(stale)} tag(s) whose newest repo is older than "
                                      f"their last change: {shown}{more}")
    return Finding("repos", OK, "every tag's newest repo is current")


def run_checks(config, builder_age_min=15.0, task_age_min=30.0, min_free_gib=5.0, now=None):
    """Every check on the hub of ``config`` (a HubConfig); a list of :class:`Finding`."""
    from .db import open_db

    now = time.time() if now is None else now
    findings = [check_topdir(config.topdir, min_free_gib)]
    db = open_db(config.db_url)
    try:
        dbf = check_database(db)
        findings.append(dbf)
        if dbf.status != FAIL:
            findings.append(check_builders(db, config, builder_age_min, now))
            findings.append(check_tasks(db, task_age_min, now))
            findings.append(check_repos(db, config))
    finally:
        db.dispose()
    return findings


def exit_status(findings):
    if any(f.status == FAIL for f in findings):
        return 2
    return 1 if any(f.status == WARN for f in findings) else 0


def format_text(findings, quiet=False):
    lines = [f"{f.status:<5} {f.check}: {f.detail}" for f in findings
             if not quiet or f.status != OK]
    return "\n".join(lines) + ("\n" if lines else "")


def as_dicts(findings):
    return [asdict(f) for f in findings]
