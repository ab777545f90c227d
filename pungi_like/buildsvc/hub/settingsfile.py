"""Small JSON settings files in the hub's private directory (``<topdir>/.hub/*.json``): the
queue settings (scheduler.py) and the limits (limits.py)."""

from __future__ import annotations

import json
import os

from ...fileutil import write_atomic


def read_settings(topdir, name, defaults):
    """``defaults`` updated with ``<topdir>/<name>`` (a JSON object) when that file exists."""
    values = dict(defaults)
    path = os.path.join(topdir, name)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            values.update(json.load(f))
    return values


def update_settings(topdir, name, values):
    """Merge ``values`` into ``<topdir>/<name>`` (written atomically)."""
    data = read_settings(topdir, name, {})
    data.update(values)
    write_atomic(os.path.join(topdir, name), json.dumps(data, indent=2, sort_keys=True) + "\n")
