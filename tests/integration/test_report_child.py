"""The compose report written by a child the driver starts with the units
(``PUNGI_LIKE_REPORT_CHILD=1``: Jinja and the templates loaded there, beside them, on another
core), or by the driver itself (the default); either way the pages are the ones ``python -m
pungi_like.report`` writes for the finished compose."""

import os
import subprocess
import sys

import pytest

from tests.integration.test_reuse import compose, make_release

pytestmark = pytest.mark.integration


def test_the_report_is_written_by_the_child_as_the_compose_would(tmp_path):
    conf = make_release(tmp_path)
    target = tmp_path / "composes"
    for _ in range(2):    # a cold compose, then a re-run that reuses it
        proc, top = compose(conf, target, env=dict(os.environ, PUNGI_LIKE_REPORT_CHILD="1"))
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(top, "logs", "global", "pungi.global.log")) as fh:
            assert "/logs/global/report.html (written by its child)" in fh.read()
    page = os.path.join(top, "logs", "global", "report.html")
    index = os.path.join(target, "index.html")
    written = [open(page, "rb").read(), open(index, "rb").read()]
    assert b"Compose %s" % os.path.basename(top).encode() in written[0]
    os.unlink(page)
    os.unlink(index)
    subprocess.run([sys.executable, "-m", "pungi_like.report", top], check=True,
                   capture_output=True)
    assert written == [open(page, "rb").read(), open(index, "rb").read()]


def test_no_report_child_by_default(tmp_path):
    """Without PUNGI_LIKE_REPORT_CHILD=1 the driver writes the report itself (the same
    pages)."""
    conf = make_release(tmp_path)
    target = tmp_path / "composes"
    env = {k: v for k, v in os.environ.items() if k != "PUNGI_LIKE_REPORT_CHILD"}
    proc, top = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(top, "logs", "global", "pungi.global.log")) as fh:
        log = fh.read()
    assert "/logs/global/report.html\n" in log and "(written by its child)" not in log
    page = os.path.join(top, "logs", "global", "report.html")
    written = open(page, "rb").read()
    os.unlink(page)
    subprocess.run([sys.executable, "-m", "pungi_like.report", top], check=True,
                   capture_output=True)
    assert written == open(page, "rb").read()
