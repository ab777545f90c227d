"""The HTML of the compose report's two pages (``pungi_like.report`` gathers what they show).

Written with Python's string operations rather than a template engine: the pages are two short
documents, and Jinja's import and its compiled templates' load took 25-35 ms of CPU in every
compose (a no-op re-run's wall is its CPU; a tenth of its time). The output is what the
Jinja templates this replaced rendered (``trim_blocks``, ``lstrip_blocks``, autoescape), byte
for byte: every value is escaped as markupsafe escapes (``&#34;`` and ``&#39;`` for the quotes)
except the Gantt chart, which ``report.gantt`` escaped already. ``style.css`` beside the
report's other files is inlined in both pages.
"""

import functools

from .resources import share_path

#: markupsafe's replacements, in its order (``&`` first)
_ESCAPES = (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"), ("'", "&#39;"), ('"', "&#34;"))


def escape(value):
    """``value`` as text, escaped for HTML as Jinja's autoescape does (``None`` is "None")."""
    text = value if type(value) is str else str(value)
    for char, entity in _ESCAPES:
        if char in text:
            text = text.replace(char, entity)
    return text


@functools.lru_cache(maxsize=1)
def _style():
    """The pages' CSS, without its last newline (as a Jinja include gave it)."""
    with open(share_path("templates", "report", "style.css"), encoding="utf-8") as fh:
        text = fh.read()
    return text[:-1] if text.endswith("\n") else text


def _head(title):
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>%s</title>\n'
            '<style>\n%s</style>\n</head>\n<body>\n' % (title, _style()))


def _joined(names):
    """A list cell of the packages table: the count, then up to 20 names."""
    out = str(len(names))
    if names:
        out += ": " + ", ".join(escape(n) for n in names[:20])
        if len(names) > 20:
            out += " ..."
    return out


def report_page(c, reason, counts, gantt, failures, images, packages, previous, tasks,
                embedded_topdir, colours, fmt_ts, fmt_size):
    """report.html: ``c`` the compose's summary, ``counts`` (result, units) pairs, ``gantt``
    the SVG chart (HTML already), ``failures``/``images``/``packages``/``tasks`` the rows of
    their sections (``report.write_report`` makes them), ``fmt_ts``/``fmt_size`` the time and
    size formats."""
    e = escape
    out = [_head("%s: %s" % (e(c["id"]), e(c["status"]))),
           '<h1>Compose %s <span class="status status-%s">%s</span></h1>\n<table>\n'
           % (e(c["id"]), e(c["status"]), e(c["status"])),
           "<tr><th>Label</th><td>%s</td></tr>\n" % e(c["label"] or ""),
           "<tr><th>Started</th><td>%s</td></tr>\n" % e(fmt_ts(c["start"])),
           "<tr><th>Duration</th><td>%s s</td></tr>\n" % e("%.1f" % (c["duration"] or 0)),
           "<tr><th>Exit reason</th><td>%s</td></tr>\n" % e(reason or c["status"]),
           "<tr><th>Units</th><td>%s</td></tr>\n"
           % ", ".join("%s %s" % (e(n), e(r)) for r, n in counts),
           '<tr><th>Logs</th><td><a href="pungi.global.log">pungi.global.log</a>, <a href='
           '"timeline.json">timeline.json</a>, <a href="deliverables.json">deliverables.json'
           '</a></td></tr>\n</table>\n\n<h2 id="failures">Failed deliverables and units</h2>\n']
    for f in failures:
        out.append('<div class="failure">\n<h3>%s%s</h3>\n<p class="bad">%s</p>\n'
                   % (e(f["what"]), " (failable)" if f["failable"] else "", e(f["error"])))
        for log in f["logs"]:
            out.append("<p>Log of unit %s%s</p>\n" % (
                e(log["unit"]), ': <a href="%s">%s</a>' % (e(log["href"]), e(log["rel"]))
                if log["href"] else ""))
            if log["tail"]:
                out.append('<pre class="log">%s</pre>' % e(log["tail"]))
        out.append("</div>\n")
    if not failures:
        out.append('<p class="ok">Nothing failed.</p>\n')
    # Jinja's dictsort: by key, case-insensitively
    legend = "".join('<span style="background: %s"></span>%s' % (e(col), e(r))
                     for r, col in sorted(colours.items(), key=lambda kv: kv[0].lower()))
    out.append('\n<h2 id="timeline">Timeline</h2>\n<p class="legend">%s (hatched: reused)</p>\n'
               '%s\n\n<h2 id="images">Images</h2>\n' % (legend, gantt))
    if images:
        out.append("<table><tr><th>Variant.arch</th><th>Image</th><th>Type</th><th>Format</th>"
                   "<th>Size (bytes)</th><th>Checksums</th><th>Boot test</th></tr>\n")
        for i in images:
            sums = "".join("<div><code>%s:%s</code></div>" % (e(algo), e(value))
                           for algo, value in i["checksums"])
            boots = "".join(
                '<div class="%s">%s: %s%s</div>' % (
                    "ok" if b["ok"] else "bad", e(b["firmware"]),
                    "booted" if b["ok"] else "FAILED",
                    " (%s s)" % e(b["seconds"]) if b["seconds"] else "")
                for b in i["boot"]) or ("not tested" if i["bootable"] else "not bootable")
            out.append('<tr><td>%s.%s</td><td><a href="%s">%s</a></td><td>%s</td><td>%s</td>'
                       "<td>%s</td>\n<td>%s</td>\n<td>%s</td></tr>\n"
                       % (e(i["variant"]), e(i["arch"]), e(i["href"]), e(i["path"]),
                          e(i["type"]), e(i["format"]), e(fmt_size(i["size"])), sums, boots))
        out.append("</table>\n")
    else:
        out.append("<p>No images.</p>")
    out.append('\n<h2 id="packages">Packages</h2>\n')
    if packages:
        out.append("<table><tr><th>Variant.arch</th><th>Binary packages</th><th>Source packages"
                   "</th>%s</tr>\n" % ("<th>Added since %s</th><th>Removed</th>"
                                       % e(previous["id"]) if previous else ""))
        for p in packages:
            out.append("<tr><td>%s</td><td>%s</td><td>%s</td>\n" % (e(p["key"]), e(p["binary"]),
                                                                  e(p["source"])))
            if previous:
                out.append("<td>%s</td>\n<td>%s</td>" % (_joined(p["added"]),
                                                         _joined(p["removed"])))
            out.append("</tr>\n")
        out.append("</table>\n")
    else:
        out.append("<p>No package metadata (rpms.json) was written.</p>")
    out.append('\n<h2 id="tasks">Build service tasks</h2>\n')
    if tasks:
        out.append("<table><tr><th>Task</th><th>Method</th><th>State</th></tr>\n")
        for t in tasks:
            ident = '<a href="%s">%s</a>' % (e(t["href"]), e(t["id"])) if t["href"] \
                else e(t["id"])
            out.append("<tr><td>%s</td><td>%s</td><td>%s</td></tr>"
                       % (ident, e(t["method"] or ""), e(t["state"] or "")))
        out.append("</table>\n")
        if embedded_topdir:
            out.append('<p class="note">The embedded build service of this compose stopped when '
                       "the compose ended. To see these tasks' pages, serve its top directory: "
                       "<code>pungi-like-hub serve --topdir %s</code>, then open <code>/koji/"
                       "taskinfo?taskID=N</code> on the address it prints.</p>\n"
                       % e(embedded_topdir))
    else:
        out.append("<p>The compose started no build service tasks.</p>")
    out.append("</body>\n</html>")
    return "".join(out)


def index_page(target, composes, fmt_ts):
    """index.html of a target directory: ``composes`` (``report.compose_summary`` entries with
    their ``report`` link, or None), in the order given."""
    e = escape
    out = [_head("Composes in %s" % e(target)),
           "<h1>Composes in %s</h1>\n<table><tr><th>Compose</th><th>Label</th><th>Status</th>"
           "<th>Started</th><th>Duration</th><th>Report</th></tr>\n" % e(target)]
    for c in composes:
        out.append('<tr><td><a href="%s/">%s</a></td><td>%s</td><td><span class="status status-'
                   '%s">%s</span></td>\n<td>%s</td><td>%s</td>\n<td>%s</td></tr>\n'
                   % (e(c["dir"]), e(c["id"]), e(c["label"] or ""), e(c["status"]),
                      e(c["status"]), e(fmt_ts(c["start"])),
                      e("%.1f s" % c["duration"]) if c["duration"] is not None else "",
                      '<a href="%s">report</a>' % e(c["report"]) if c["report"] else ""))
    out.append("</table>\n</body>\n</html>")
    return "".join(out)
