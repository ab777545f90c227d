"""The compose report: ``logs/global/report.html`` of every compose, and the target directory's
``index.html`` listing its composes.

The report is one self-contained HTML file (inline CSS, an inline SVG Gantt chart, no scripts,
no external resources), built only from what the compose wrote to its directory, so it can be
rebuilt for an old compose (``python -m pungi_like.report <compose dir>``):

* ``STATUS``, ``COMPOSE_ID``, ``compose/metadata/composeinfo.json`` (label), the exit reason the
  driver passes in (else the tracebacks under ``logs/global``);
* ``logs/global/timeline.json``: one bar per unit, coloured by result; units the timeline marks
  ``reused`` are drawn hatched;
* ``logs/global/deliverables.json``: failed (and failable) deliverables with the tail of the
  logs of the units that failed for them;
* ``compose/metadata/images.json`` and the boot-test units' records (``work/global/units``);
* ``compose/metadata/rpms.json``: package counts per variant.arch, and the difference in
  package names against the previous compose of the same target directory when it has one;
* ``logs/global/koji-tasks/``: the build-service tasks, linked to the hub's web pages when the
  driver passes the profile's ``weburl`` (and their method/state when it passes those). The
  embedded service of a compose listens on a port of its own only while the compose runs, so
  its tasks are not linked: the report says how to serve its top directory to see them.
"""

from __future__ import annotations

import json
import logging
import os

from . import report_render
from .report_render import TEMPLATE_DIR, write_page  # noqa: F401 - the pages' writer
from .report_render import environment as _environment  # noqa: F401 - its templates

log = logging.getLogger("pungi_like.report")

REPORT_REL = os.path.join("logs", "global", "report.html")
INDEX_NAME = "index.html"
LOG_TAIL_LINES = 40
LOG_TAIL_BYTES = 32 * 1024
COLOURS = {"ok": "#3a9d4f", "failed": "#c62828", "failed-failable": "#ef8f00",
           "skipped": "#9e9e9e"}


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def tail(path, lines=LOG_TAIL_LINES):
    """The last ``lines`` lines of a text file (read from its end), or None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            f.seek(max(0, size - LOG_TAIL_BYTES))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return "\n".join(data.splitlines()[-lines:])


# ---- what the compose wrote ------------------------------------------------------------------

def compose_summary(topdir):
    """id, label, status, start, end, duration of the compose in ``topdir`` (for the index)."""
    info = _load_json(os.path.join(topdir, "compose", "metadata", "composeinfo.json")) or {}
    compose = info.get("payload", {}).get("compose", {})
    timeline = _load_json(os.path.join(topdir, "logs", "global", "timeline.json")) or {}
    units = timeline.get("units", [])
    start = min((u["start"] for u in units), default=None)
    end = max((u["end"] for u in units), default=None)
    if start is None:
        try:
            start = end = os.path.getmtime(os.path.join(topdir, "COMPOSE_ID"))
        except OSError:
            start = end = os.path.getmtime(topdir)
    return {"id": _read(os.path.join(topdir, "COMPOSE_ID")) or os.path.basename(topdir),
            "label": compose.get("label"), "status": _read(os.path.join(topdir, "STATUS")),
            "start": start, "end": end, "duration": (end - start) if end else None,
            "dir": os.path.basename(topdir)}


def gantt(units, width=900, row=16, label_width=300):
    """An SVG Gantt chart (text) of timeline ``units``: one ``rect.unit-bar`` per unit."""
    if not units:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    units = sorted(units, key=lambda u: (u["start"], u["unit"]))
    t0 = min(u["start"] for u in units)
    span = max(max(u["end"] for u in units) - t0, 0.001)
    scale = (width - label_width - 10) / span
    height = row * len(units) + 30
    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<defs><pattern id="reused" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="3" height="6" fill="#ffffff" '
           'fill-opacity="0.6"/></pattern></defs>']
    for tick in range(0, 6):
        x = label_width + tick * (width - label_width - 10) / 5
        out.append('<line x1="%.1f" y1="0" x2="%.1f" y2="%d" stroke="#ddd"/>'
                   '<text x="%.1f" y="%d" fill="#555">%.1f s</text>'
                   % (x, x, height - 18, x + 2, height - 5, span * tick / 5))
    for i, u in enumerate(units):
        y = i * row + 2
        x = label_width + (u["start"] - t0) * scale
        w = max((u["end"] - u["start"]) * scale, 1.5)
        colour = COLOURS.get(u.get("result"), "#607d8b")
        name = _escape(u["unit"])
        reused = bool(u.get("reused"))
        title = "%s: %s, %.2f s%s%s" % (u["unit"], u.get("result"), u["end"] - u["start"],
                                         ", reused" if reused else "",
                                         (": " + u["error"]) if u.get("error") else "")
        out.append('<text x="2" y="%d">%s%s</text>' % (y + row - 5, name,
                                                       " (reused)" if reused else ""))
        out.append('<rect class="unit-bar result-%s%s" data-unit="%s" x="%.1f" y="%d" '
                   'width="%.1f" height="%d" fill="%s"><title>%s</title></rect>'
                   % (_escape(u.get("result") or "unknown"), " reused" if reused else "",
                      name, x, y, w, row - 4, colour, _escape(title)))
        if reused:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#reused)"/>'
                       % (x, y, w, row - 4))
    out.append("</svg>")
    return "\n".join(out)


def _failures(topdir, units):
    """Failed deliverables and failed units, each with the tail of its log."""
    deliverables = _load_json(os.path.join(topdir, "logs", "global", "deliverables.json")) or {}
    failed_units = [u for u in units if u.get("result") in ("failed", "failed-failable")]
    out = []
    for d in deliverables.get("failed_details", []):
        logs = [u for u in failed_units if u.get("variant") == d.get("variant")
                and u.get("arch") == d.get("arch")]
        out.append({"what": "%s %s.%s%s" % (d.get("kind"), d.get("variant"), d.get("arch"),
                                             " (%s)" % d["subvariant"] if d.get("subvariant")
                                             else ""),
                    "failable": True, "error": d.get("error"),
                    "logs": [_log_entry(topdir, u) for u in logs]})
    for u in failed_units:
        if u.get("result") == "failed":
            out.append({"what": "unit " + u["unit"], "failable": False, "error": u.get("error"),
                        "logs": [_log_entry(topdir, u)]})
    return out


def _log_entry(topdir, unit):
    """The unit's own log (its tail), else its traceback file, else the lines of the global
    log that name the unit (a unit that failed before writing its log still has those)."""
    here = os.path.join(topdir, "logs", "global")
    rel = unit.get("log")
    candidates = [rel] if rel else []
    candidates.append(os.path.join("logs", "global", "traceback-%s.global.log"
                                   % unit["unit"].replace(".", "-")))
    for cand in candidates:
        path = os.path.join(topdir, cand)
        if os.path.isfile(path) and os.path.getsize(path) and \
                os.path.basename(path) != "pungi.global.log":
            return {"unit": unit["unit"], "rel": cand, "href": os.path.relpath(path, here),
                    "tail": tail(path)}
    global_log = os.path.join(here, "pungi.global.log")
    lines = []
    try:
        with open(global_log, encoding="utf-8", errors="replace") as f:
            lines = [line.rstrip("\n") for line in f if unit["unit"] in line or
                     (unit.get("variant") and "variant %s, arch %s" % (unit["variant"],
                                                                     unit["arch"]) in line)]
    except OSError:
        global_log = None
    return {"unit": unit["unit"], "rel": os.path.join("logs", "global", "pungi.global.log"),
            "href": "pungi.global.log" if global_log else None,
            "tail": "\n".join(lines[-LOG_TAIL_LINES:]) or None}


def _boot_results(topdir):
    """{image path: [(unit, firmware, ok, seconds)]} from the boot-test units' records."""
    results = {}
    units_dir = os.path.join(topdir, "work", "global", "units")
    if not os.path.isdir(units_dir):
        return results
    for name in sorted(os.listdir(units_dir)):
        record = _load_json(os.path.join(units_dir, name)) or {}
        booted = (record.get("outputs") or {}).get("booted") or {}
        firmware = (record.get("inputs") or {}).get("fw") or record.get("unit", "").rsplit(".")[-1]
        for path, r in booted.items():
            results.setdefault(path, []).append({"firmware": firmware, "ok": r.get("ok"),
                                                 "seconds": r.get("seconds")})
    return results


def _images(topdir):
    data = _load_json(os.path.join(topdir, "compose", "metadata", "images.json")) or {}
    boots = _boot_results(topdir)
    out = []
    for variant, arches in sorted(data.get("payload", {}).get("images", {}).items()):
        for arch, images in sorted(arches.items()):
            for img in sorted(images, key=lambda i: i.get("path", "")):
                out.append({"variant": variant, "arch": arch, "path": img.get("path"),
                            "type": img.get("type"), "format": img.get("format"),
                            "size": img.get("size"), "bootable": img.get("bootable"),
                            "checksums": [list(item) for item in sorted(
                                (img.get("checksums") or {}).items())],
                            "boot": boots.get(img.get("path"), []),
                            "href": os.path.join("..", "..", "compose", img.get("path", ""))})
    return out


def _rpms_trees(topdir):
    """{variant.arch: {srpm: {nevra: entry}}} of the compose's rpms.json (that of a finished
    compose read ahead by ``warm_up``, when it was)."""
    preloaded = _preloaded.pop(os.path.abspath(topdir), None)
    if preloaded is not None:
        return preloaded
    data = _load_json(os.path.join(topdir, "compose", "metadata", "rpms.json")) or {}
    return {"%s.%s" % (variant, arch): srpms
            for variant, arches in data.get("payload", {}).get("rpms", {}).items()
            for arch, srpms in arches.items()}


def _names(srpms):
    """{"binary", "source": set of package names} of one variant.arch's rpms.json entries
    (those ``names_ahead`` made of this very object, when it did)."""
    known = _names_made.get(id(srpms))
    if known is not None and known[0] is srpms:
        return known[1]
    names = {"binary": set(), "source": set()}
    for rpms in srpms.values():
        for nevra, meta in rpms.items():
            kind = "source" if meta.get("category") == "source" else "binary"
            names[kind].add(nevra.rsplit("-", 2)[0])
    return names


def previous_compose(topdir):
    """The newest other compose of the same target directory that started before this one."""
    target = os.path.dirname(os.path.abspath(topdir))
    me = compose_summary(topdir)
    best = None
    for name in os.listdir(target):
        path = os.path.join(target, name)
        if path == os.path.abspath(topdir) or os.path.islink(path) or \
                not os.path.isfile(os.path.join(path, "COMPOSE_ID")):
            continue
        other = compose_summary(path)
        if other["start"] < me["start"] and (best is None or other["start"] > best[1]["start"]):
            best = (path, other)
    return best


def _packages(topdir):
    mine = _rpms_trees(topdir)
    prev = previous_compose(topdir)
    theirs = _rpms_trees(prev[0]) if prev else {}
    rows = []
    for key in sorted(set(mine) | set(theirs)):
        now = _names(mine.get(key, {}))
        row = {"key": key, "binary": len(now["binary"]), "source": len(now["source"]),
               "added": [], "removed": []}
        # equal entries (a re-run that changed nothing there): nothing added or removed
        if prev and theirs.get(key) != mine.get(key):
            before = _names(theirs.get(key, {}))["binary"]
            row["added"] = sorted(now["binary"] - before)
            row["removed"] = sorted(before - now["binary"])
        rows.append(row)
    _names_made.clear()     # made for this report
    return rows, (prev[1] if prev else None)


def _tasks(topdir, task_info, weburl):
    tasks_dir = os.path.join(topdir, "logs", "global", "koji-tasks")
    ids = sorted(int(n) for n in os.listdir(tasks_dir) if n.isdigit()) \
        if os.path.isdir(tasks_dir) else []
    task_info = task_info or {}
    return [{"id": i, "method": (task_info.get(i) or {}).get("method"),
             "state": (task_info.get(i) or {}).get("state"),
             "href": "%s/taskinfo?taskID=%d" % (weburl.rstrip("/"), i) if weburl else None}
            for i in ids]


def _escape(text):
    """What ``html.escape`` gives (quotes too), without importing ``html`` and its entity
    tables into the driver, which makes the report's context (``report_page``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;").replace("'", "&#x27;")


#: {compose top directory: _rpms_trees} of finished composes read by ``warm_up``
_preloaded = {}


#: {id of a variant.arch's rpms.json entries: (those entries, their ``_names``)} made ahead
_names_made = {}


def names_ahead(payload):
    """The package names of each variant.arch of ``payload`` (``RpmsRecorder.payload``) made
    ahead for the report of the compose it is: the driver makes them in a thread while its
    metadata.write copies and hashes rpms.json without the interpreter lock, instead of after
    the units on one core (12,000 entries at 10,000 RPMs: about 5 ms)."""
    for arches in payload.values():
        for srpms in arches.values():
            _names_made[id(srpms)] = (srpms, _names(srpms))


def preload_rpms(topdir, payload):
    """The rpms.json trees of the compose at ``topdir`` for its report, from ``payload`` (its
    ``payload.rpms``, ``RpmsRecorder.payload``) instead of reading the file it was written to."""
    _preloaded[os.path.abspath(topdir)] = {"%s.%s" % (variant, arch): srpms
                                           for variant, arches in payload.items()
                                           for arch, srpms in arches.items()}


def warm_up(finished_topdir=None):
    """What the report of a compose needs before the compose ends, made ahead (the driver
    calls this in a thread while the units run): the templates compiled and the rpms.json
    trees of ``finished_topdir`` (a finished compose: the previous one) read."""
    report_render.warm_up()
    if finished_topdir:
        _preloaded[os.path.abspath(finished_topdir)] = _rpms_trees(finished_topdir)


# ---- the two pages ---------------------------------------------------------------------------

def write_report(topdir, reason=None, weburl=None, task_info=None, embedded_topdir=None):
    """Write ``<topdir>/logs/global/report.html``; returns its path.

    ``reason``: why the compose ended as it did (the driver's words); ``weburl``: the hub's web
    UI (``.../koji``); ``task_info``: {task id: {"method", "state" (a name)}};
    ``embedded_topdir``: the top directory of the embedded service the compose started and
    stopped (its tasks are then not linked: its port is gone when the report is read).
    """
    return write_page(*report_page(topdir, reason, weburl, task_info, embedded_topdir))


def report_page(topdir, reason=None, weburl=None, task_info=None, embedded_topdir=None):
    """(path, template, context) of ``write_report``'s page: what it renders, made here
    without Jinja (``write_page`` renders it; so may the reuse precheck's child, given the
    context as JSON: ``reuse_precheck.serve_report``)."""
    topdir = os.path.abspath(topdir)
    summary = compose_summary(topdir)
    timeline = _load_json(os.path.join(topdir, "logs", "global", "timeline.json")) or {}
    units = timeline.get("units", [])
    if reason is None:
        tracebacks = sorted(n for n in os.listdir(os.path.join(topdir, "logs", "global"))
                            if n.startswith("traceback")) \
            if os.path.isdir(os.path.join(topdir, "logs", "global")) else []
        reason = ("see %s" % ", ".join(tracebacks)) if tracebacks else None
    packages, previous = _packages(topdir)
    counts = {}
    for u in units:
        counts[u.get("result")] = counts.get(u.get("result"), 0) + 1
    context = dict(
        c=summary, reason=reason, units=units,
        counts=[list(item) for item in sorted(counts.items(), key=str)],
        gantt=gantt(units), failures=_failures(topdir, units), images=_images(topdir),
        packages=packages, previous=previous, tasks=_tasks(topdir, task_info, weburl),
        weburl=weburl, embedded_topdir=embedded_topdir, colours=COLOURS)
    return os.path.join(topdir, REPORT_REL), "report.html.j2", context


def write_index(target_dir):
    """Write ``<target_dir>/index.html``: its composes newest first, with links to reports."""
    return write_page(*index_page(target_dir))


def index_page(target_dir, reports=()):
    """(path, template, context) of ``write_index``'s page (as ``report_page``);
    ``reports``: the paths of reports written before it is (a page made with this one)."""
    target_dir = os.path.abspath(target_dir)
    reports = {os.path.abspath(path) for path in reports}
    composes = []
    for name in sorted(os.listdir(target_dir)):
        path = os.path.join(target_dir, name)
        if os.path.islink(path) or not os.path.isfile(os.path.join(path, "COMPOSE_ID")):
            continue
        entry = compose_summary(path)
        entry["report"] = name + "/" + REPORT_REL.replace(os.sep, "/") \
            if os.path.join(path, REPORT_REL) in reports \
            or os.path.isfile(os.path.join(path, REPORT_REL)) else None
        composes.append(entry)
    composes.sort(key=lambda c: (c["start"], c["id"]), reverse=True)
    return os.path.join(target_dir, INDEX_NAME), "index.html.j2", dict(
        composes=composes, target=os.path.basename(target_dir))


def write_for_compose(compose, reason=None):
    """The driver's hook at the end of every compose: the report, then the target's index.

    Asks the build service (when the compose used one) for its tasks' methods and states. A
    failure here is logged and never changes how the compose ended.
    """
    weburl, info, embedded = None, {}, None
    koji_wrapper = getattr(compose, "koji", None)
    try:
        if koji_wrapper is not None:
            import koji

            if getattr(koji_wrapper, "service", None) is not None:
                # the embedded hub's URL has a port that is gone once the compose ends
                embedded = koji_wrapper.topdir
            else:
                weburl = koji_wrapper.opts.get("weburl")
            for task_id in koji_wrapper.tasks:
                t = koji_wrapper.call("getTaskInfo", task_id, attempts=1)
                if t:
                    info[task_id] = {"method": t["method"],
                                     "state": koji.TASK_STATES[t["state"]]}
    except Exception as exc:  # noqa: BLE001 - the report shows the tasks without details
        log.warning("report: cannot read the build service's tasks: %s", exc)
    try:
        path = write_report(compose.topdir, reason=reason, weburl=weburl, task_info=info,
                            embedded_topdir=embedded)
        write_index(os.path.dirname(compose.topdir))
        compose.log.info("Compose report: %s", path)
    except Exception:  # noqa: BLE001 - a report must not change the compose's result
        log.exception("cannot write the compose report of %s", compose.topdir)


def main(argv=None):
    """``python -m pungi_like.report COMPOSE_DIR``: (re)write a compose's report and index."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("compose_dir")
    p.add_argument("--weburl", help="the build service's web UI, e.g. https://hub/koji")
    args = p.parse_args(argv)
    print(write_report(args.compose_dir, weburl=args.weburl))
    print(write_index(os.path.dirname(os.path.abspath(args.compose_dir))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
