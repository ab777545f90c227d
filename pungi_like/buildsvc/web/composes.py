"""The ``composes`` page: composes that used this build service.

A compose driven against the service uploads a small record, ``compose.json``, into
``work/pungi-like-composes/<compose id>-<hash>/`` when it starts and when it ends
(``KojiWrapper.publish_compose``): id, status, label, its directory, times and the tasks it
started. The page lists them newest first with links to those tasks. The records are what users
uploaded: the page shows who uploaded each (the directory's owner, as uploads record it), and
reads each file with a size bound and skips anything that is not such a record.
"""

from __future__ import annotations

import json
import os

from .app import call
from .pages import list_pager, page

RECORD_DIR = "pungi-like-composes"
MAX_RECORD = 256 * 1024
ORDERS = ("compose_id", "status", "started", "updated")


def _owner(directory, names):
    try:
        with open(os.path.join(directory, ".user"), encoding="ascii") as fh:
            uid = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    if uid not in names:
        user = call("getUser", uid)
        names[uid] = user["name"] if user else str(uid)
    return names[uid]


def read_records(topdir):
    """Every readable compose record under the top directory, as dicts."""
    base = os.path.join(topdir, "work", RECORD_DIR)
    records, names = [], {}
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return records
    for entry in entries:
        directory = os.path.join(base, entry)
        path = os.path.join(directory, "compose.json")
        try:
            if os.path.islink(path) or not os.path.isfile(path) or \
                    os.path.getsize(path) > MAX_RECORD:
                continue
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("compose_id"), str):
            continue
        tasks = [t for t in data.get("tasks") or [] if isinstance(t, int)]
        records.append({
            "compose_id": data["compose_id"], "status": str(data.get("status") or ""),
            "label": data.get("label") if isinstance(data.get("label"), str) else None,
            "topdir": data.get("topdir") if isinstance(data.get("topdir"), str) else "",
            "started": data.get("started") if isinstance(data.get("started"), (int, float))
            else None,
            "updated": data.get("updated") if isinstance(data.get("updated"), (int, float))
            else None,
            "tasks": tasks, "owner": _owner(directory, names)})
    return records


@page
def composes(req):
    pager = list_pager(req, read_records(req.hub.pathinfo.topdir), ORDERS, "-updated")
    return "composes.html.j2", {"pager": pager}
