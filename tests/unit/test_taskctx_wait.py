"""TaskContext.wait in a task process of the daemon: woken by SIGUSR2 (kojid's way), and a wake
sent before it sleeps is kept, not lost (the signal is blocked while waiting)."""

from __future__ import annotations

import os
import signal

import pytest

from pungi_like.buildsvc.builder.taskctx import TaskContext


class _Host:
    def __init__(self, wake_during_first_check):
        self.checks = 0
        self.wake = wake_during_first_check

    def taskSetWait(self, task_id, ids):
        self.waiting = ids

    def taskWait(self, task_id):
        self.checks += 1
        if self.checks == 1:
            if self.wake:
                # the child finishes and the daemon's SIGUSR2 arrives between this check and
                # the sleep that follows it
                os.kill(os.getpid(), signal.SIGUSR2)
            return [[], [11]]
        return [[11], []]

    def taskWaitResults(self, task_id, ids, canfail=None):
        return [[11, "done"]]


class _Session:
    def __init__(self, host):
        self.host = host


@pytest.fixture
def usr2_handler():
    calls = []
    old = signal.signal(signal.SIGUSR2, lambda *a: calls.append(a))
    yield calls
    signal.signal(signal.SIGUSR2, old)


def _ctx(tmp_path, host):
    ctx = TaskContext(_Session(host), {"id": 7, "method": "newRepo"},
                      workdir_root=str(tmp_path))
    # if the wake went to the handler instead, the wait ends by this fallback and the handler
    # check below fails
    ctx.wake_timeout = 3.0
    return ctx


def test_wait_keeps_a_wake_sent_before_the_sleep(tmp_path, usr2_handler):
    host = _Host(wake_during_first_check=True)
    ctx = _ctx(tmp_path, host)
    try:
        assert ctx.wait([11]) == {11: "done"}
    finally:
        ctx.close()
    assert host.checks == 2
    assert usr2_handler == []   # consumed by the wait, not delivered to the handler
    # the mask is restored: SIGUSR2 reaches the handler again
    os.kill(os.getpid(), signal.SIGUSR2)
    assert len(usr2_handler) == 1
    assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_wait_without_a_handler_polls(tmp_path):
    # not forked by the daemon (SIGUSR2 at its default): plain polling, no signal touched
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    host = _Host(wake_during_first_check=False)
    ctx = _ctx(tmp_path, host)
    ctx.wait_poll = 0.01
    try:
        assert ctx.wait([11]) == {11: "done"}
    finally:
        ctx.close()
    assert host.checks == 2
