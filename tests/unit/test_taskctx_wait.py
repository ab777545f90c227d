"""TaskContext.wait in a task process of the daemon: woken by SIGUSR2 (kojid's way), and a wake
sent before it sleeps is kept, not lost (the signal is blocked while waiting)."""

from __future__ import annotations

import os
import signal

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


class _Call:
    def __init__(self, result=None, error=None):
        self._result, self._error = result, error

    @property
    def result(self):
        if self._error is not None:
            raise self._error
        return self._result


class _Multicall:
    """koji's ``session.multicall()``: the calls run in order, results in ``.result``."""

    def __init__(self, session):
        self.host = _RecordingHost(session.host)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _RecordingHost:
    def __init__(self, host):
        self._host = host

    def __getattr__(self, name):
        method = getattr(self._host, name)

        def call(*a, **kw):
            try:
                return _Call(method(*a, **kw))
            except Exception as exc:   # a fault of one entry: kept in its result
                return _Call(error=exc)
        return call


class _Session:
    def __init__(self, host):
        self.host = host

    def multicall(self, strict=False):
        return _Multicall(self)


class _SlowChildHost(_Host):
    """The child finishes at the third look; taskWaitResults of an unfinished child fails (the
    hub rolls that multicall entry back)."""

    def __init__(self):
        super().__init__(wake_during_first_check=False)
        self.results_calls = []

    def taskWait(self, task_id):
        self.checks += 1
        return [[11], []] if self.checks >= 3 else [[], [11]]

    def taskWaitResults(self, task_id, ids, canfail=None):
        ok = self.checks >= 3
        self.results_calls.append(ok)
        if not ok:
            raise RuntimeError("task 11 has not finished")
        return [[11, "done"]]


def _ctx(tmp_path, host):
    ctx = TaskContext(_Session(host), {"id": 7, "method": "newRepo"},
                      workdir_root=str(tmp_path))
    # if the wake went to the handler instead, the wait ends by this fallback and the handler
    # check below fails
    ctx.wake_timeout = 3.0
    return ctx


def _polled_wait(tmp_path, host):
    """What ``wait([11])`` answers when it polls (10 ms between looks)."""
    ctx = _ctx(tmp_path, host)
    ctx.wait_poll = 0.01
    try:
        return ctx.wait([11])
    finally:
        ctx.close()


def _in_a_forked_child(check):
    """Run ``check()`` in a child forked from this thread, as the daemon forks a task process:
    only this thread lives there. A signal sent to the process goes to any thread that does not
    block it, and the test process has other threads (those earlier tests left): one of them
    took the wake now and then, and the handler ran instead of the wait's sigtimedwait (seen
    once in a full run). Fails with the child's traceback."""
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            check()
            code = 0
        except BaseException:  # noqa: B902 - reported to the parent
            os.write(write_end, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        report = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


def test_wait_keeps_a_wake_sent_before_the_sleep(tmp_path):
    def check():
        calls = []
        signal.signal(signal.SIGUSR2, lambda *a: calls.append(a))
        host = _Host(wake_during_first_check=True)
        ctx = _ctx(tmp_path, host)
        try:
            assert ctx.wait([11]) == {11: "done"}
        finally:
            ctx.close()
        assert host.checks == 2
        assert calls == []   # consumed by the wait, not delivered to the handler
        # the mask is restored: SIGUSR2 reaches the handler again
        os.kill(os.getpid(), signal.SIGUSR2)
        assert len(calls) == 1
        assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

    _in_a_forked_child(check)


class _HostWakingLikeTheDaemon(_Host):
    """The wake sent as the daemon sends it (wake_parent_task): to the main thread."""

    def taskWait(self, task_id):
        from pungi_like.buildsvc.builder.daemon import signal_main_thread

        self.checks += 1
        if self.checks == 1:
            signal_main_thread(os.getpid(), signal.SIGUSR2)
            return [[], [11]]
        return [[11], []]


def test_a_thread_of_the_task_process_does_not_take_the_wake(tmp_path):
    # a thread the task started before its wait does not block SIGUSR2; a signal sent to the
    # process would go to it (the kernel hands it to any thread that does not block it), the
    # handler would run there and the wait would sleep to its timeout. The daemon's wake goes
    # to the main thread, where the wait takes it.
    import threading

    from pungi_like.buildsvc.builder.daemon import task_process_signals

    def check():
        task_process_signals()             # as forkTask does
        calls = []
        signal.signal(signal.SIGUSR2, lambda *a: calls.append(a))
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            host = _HostWakingLikeTheDaemon(wake_during_first_check=False)
            ctx = _ctx(tmp_path, host)
            try:
                assert ctx.wait([11]) == {11: "done"}
            finally:
                ctx.close()
        finally:
            stop.set()
            other.join()
        assert host.checks == 2
        assert calls == []   # taken by the wait's sigtimedwait, not by the other thread
        # and the process does not keep SIGUSR2 blocked (the programs it runs inherit the mask)
        assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

    _in_a_forked_child(check)


def test_wait_without_a_handler_polls(tmp_path):
    # not forked by the daemon (SIGUSR2 at its default): plain polling, no signal touched
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    host = _Host(wake_during_first_check=False)
    assert _polled_wait(tmp_path, host) == {11: "done"}
    assert host.checks == 2


def test_each_later_look_brings_the_results_once_all_finished(tmp_path):
    # polling (no handler): looks 2 and 3 ask taskWait and taskWaitResults in one multicall;
    # the wait ends with the results of the look that saw the child finished, no extra call
    host = _SlowChildHost()
    assert _polled_wait(tmp_path, host) == {11: "done"}
    assert host.checks == 3
    assert host.results_calls == [False, True]


class _CountingSession(_Session):
    """Counts the requests: a multicall is one, whatever it holds."""

    def __init__(self, host):
        super().__init__(host)
        self.requests = 0

    def multicall(self, strict=False):
        self.requests += 1
        return super().multicall(strict)


class _ParentHost(_SlowChildHost):
    """host.subtask makes children 11, 12, ... (same label: same child, as the hub's)."""

    def __init__(self):
        super().__init__()
        self.made, self.calls = {}, []

    def subtask(self, **kw):
        self.calls.append(("subtask", kw))
        return self.made.setdefault(kw["label"], 11 + len(self.made))

    def taskSetWait(self, task_id, ids):
        self.calls.append(("taskSetWait", ids))
        self.waiting = ids

    def taskWait(self, task_id):
        self.calls.append(("taskWait",))
        return super().taskWait(task_id)


def test_subtasks_and_wait_makes_the_children_and_first_look_in_one_request(tmp_path):
    # newRepo's children: made, marked awaited (all children: taskSetWait(None)) and looked at
    # in the first request; later looks are those of wait(ids): the ids of the children made
    host = _ParentHost()
    session = _CountingSession(host)
    ctx = TaskContext(session, {"id": 7, "method": "newRepo"}, workdir_root=str(tmp_path))
    ctx.wait_poll = 0.01
    try:
        ids, results = ctx.subtasks_and_wait(
            [("createrepo", [5, "x86_64", None], {"label": "x86_64", "arch": "noarch"})])
    finally:
        ctx.close()
    assert ids == [11]
    assert results == {11: "done"}
    assert [c[0] for c in host.calls[:3]] == ["subtask", "taskSetWait", "taskWait"]
    assert host.calls[0][1] == {"method": "createrepo", "arglist": [5, "x86_64", None],
                                "parent": 7, "label": "x86_64", "arch": "noarch"}
    assert host.waiting is None
    # the first request, then looks 2 and 3 (the third brings the results)
    assert session.requests == 3
    assert host.results_calls == [False, True]
