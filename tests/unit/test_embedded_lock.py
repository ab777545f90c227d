"""The embedded build service holds its directory: a second user waits or is refused."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from pungi_like.buildsvc import embedded

HOLDER = """
import sys
from pungi_like.buildsvc import embedded
fd = embedded.lock_topdir(sys.argv[1], wait=False)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the service's directory until its stdin gets a line."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_user_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(embedded.ServiceBusy, match="in use by process %d" % holder.pid):
        embedded.lock_topdir(str(tmp_path), wait=False)


def test_a_waiting_user_gets_it_when_the_holder_ends(tmp_path, holder):
    got = threading.Event()
    fds = []

    def take():
        fds.append(embedded.lock_topdir(str(tmp_path)))
        got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    # the holder still holds it: the waiter cannot have it (whenever it is checked)
    assert not got.is_set()
    holder.stdin.write("go\n")
    holder.stdin.flush()
    holder.wait(timeout=120)
    assert got.wait(timeout=120)
    try:
        with open(tmp_path / ".hub" / embedded.LOCK_NAME) as fh:
            assert fh.read().strip() == str(__import__("os").getpid())
    finally:
        embedded.unlock_topdir(fds[0])


def test_released_lock_is_taken_again_in_the_same_process(tmp_path):
    fd = embedded.lock_topdir(str(tmp_path), wait=False)
    embedded.unlock_topdir(fd)
    fd = embedded.lock_topdir(str(tmp_path), wait=False)
    embedded.unlock_topdir(fd)


TRY = """
import sys
from pungi_like.buildsvc import embedded
try:
    embedded.unlock_topdir(embedded.lock_topdir(sys.argv[1], wait=False))
except embedded.ServiceBusy as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_running_service_holds_its_directory(tmp_path):
    topdir = str(tmp_path / "svc")

    def other():
        return subprocess.run([sys.executable, "-c", TRY, topdir], capture_output=True,
                              text=True, timeout=120)

    import os

    with embedded.EmbeddedService(topdir, builders=0):
        busy = other()
        assert busy.returncode == 3, busy.stderr
        assert "in use by process %d" % os.getpid() in busy.stdout
    assert other().returncode == 0
