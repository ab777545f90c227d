"""Size limits of the hub's file transfers, so no caller can make it do unbounded work.

* ``max_upload_size``: the largest file an upload may make (bytes; default 16 GiB). A chunk may
  start only within the bytes already written (no sparse holes: an offset beyond the current size
  is refused) and may not end beyond this size. ``checkUpload(verify=...)`` hashes at most this
  many bytes, so its cost is bounded by what an uploader really had to send.
* ``max_download_chunk``: the most bytes one ``downloadTaskOutput`` call returns (default
  16 MiB); a larger file is read in chunks (``offset``/``size``), and a request that would return
  more is refused with a message saying so, never truncated silently.

Settings come from ``<topdir>/.hub/limits.json`` (keys as in :data:`DEFAULTS`), read once per hub
process; :func:`write_limits` stores them (tests, ``pungi-like-hub`` admins).
"""

from __future__ import annotations

import os

import koji

from .context import context
from .settingsfile import read_settings, update_settings

GiB = 1 << 30
MiB = 1 << 20

DEFAULTS = {
    "max_upload_size": 16 * GiB,
    "max_download_chunk": 16 * MiB,
}
SETTINGS_NAME = os.path.join(".hub", "limits.json")


def limits(hub=None) -> dict:
    """The limits of ``hub`` (default: the current call's), validated."""
    hub = hub or context.hub
    cached = getattr(hub, "_limits", None)
    if cached is None:
        cached = read_settings(hub.pathinfo.topdir, SETTINGS_NAME, DEFAULTS)
        for key, value in cached.items():
            if key not in DEFAULTS:
                raise koji.GenericError("%s: unknown setting %r (known: %s)"
                                        % (SETTINGS_NAME, key, ", ".join(sorted(DEFAULTS))))
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise koji.GenericError("%s: %s must be a positive number of bytes, not %r"
                                        % (SETTINGS_NAME, key, value))
        hub._limits = cached
    return cached


def write_limits(topdir, **values):
    """Store limits for the hub of ``topdir`` (read when the hub process first needs them)."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError("unknown limits: %s" % ", ".join(sorted(unknown)))
    update_settings(topdir, SETTINGS_NAME, values)
