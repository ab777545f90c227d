"""The compose report's pages rendered with Jinja (``pungi_like.report`` makes what they show).

Kept apart from :mod:`pungi_like.report` so that the reuse precheck's forked child, which
renders a re-run's pages (``reuse_precheck.serve_report``), imports Jinja and this only: not
the report's own modules (``fileutil``, ``logging``: 11 ms of a forked child's CPU), which
the driver has and which make the pages' contexts.
"""

import functools
import os

from .resources import share_path

#: ``share/templates`` (``media.templates``' directory)
TEMPLATE_DIR = share_path("templates")


def _fmt_ts(ts):
    import datetime

    if ts is None:
        return ""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja environment, made once (its templates are compiled once a process)."""
    import jinja2

    options = dict(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(TEMPLATE_DIR,
                                                                           "report")),
                             undefined=jinja2.StrictUndefined,
                             bytecode_cache=_bytecode_cache(jinja2, options), **options)
    env.filters["ts"] = _fmt_ts
    env.filters["size"] = lambda n: "" if n is None else "{:,}".format(int(n))
    return env


def _bytecode_cache(jinja2, options):
    """Jinja's cache of the compiled templates in the user's cache directory
    (``$XDG_CACHE_HOME/pungi-like/templates``; ``PUNGI_LIKE_TEMPLATE_CACHE=0``: none): compiling
    the two report templates cost each compose ~25 ms of CPU beside its units (a no-op
    re-run's wall is its CPU). An entry is used only for the same template source (Jinja's
    checksum), Jinja and Python (its magic) and these ``options`` (in the file names); one
    that cannot be read or written only means compiling, as without a cache."""
    import hashlib

    if os.environ.get("PUNGI_LIKE_TEMPLATE_CACHE") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    tag = hashlib.sha256(repr((sorted(options.items()), jinja2.__version__)).encode())

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: B902 - damaged or foreign: compiled again
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                super().dump_bytecode(bucket)
            except Exception as exc:  # noqa: B902 - the cache only saves time
                import logging

                logging.getLogger("pungi_like.report").debug(
                    "template cache not written: %s", exc)

    return Cache(os.path.join(base, "pungi-like", "templates"),
                 "report-" + tag.hexdigest()[:16] + "-%s.cache")


def warm_up():
    """The environment made and both templates loaded (compiled, or from the cache)."""
    env = environment()
    for name in ("report.html.j2", "index.html.j2"):
        env.get_template(name)


def write_page(path, template, context):
    """Render ``template`` (a report template's name) with ``context`` and write it at
    ``path`` (mode 0644, replaced at once by a rename, no fsync: a report is made again by
    ``python -m pungi_like.report``, and an fsync forces a journal commit on the path of
    every compose's end - ``fileutil.write_atomic``'s result, without importing it); returns
    ``path``."""
    data = environment().get_template(template).render(**context).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, ".tmp-%s.%d" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
