"""The daemon's take of an assigned task (daemon.TaskManager._take): one hub request when the
handler's weight needs no request (the request comes with openTask's answer), kojid's
getTaskInfo first otherwise."""

from __future__ import annotations

import types

import koji
import koji.tasks
import koji.xmlrpcplus

from pungi_like.buildsvc.builder import daemon, kojitasks


class _Call:
    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def run(self):
        try:
            self._result, self._error = self.fn(*self.args, **self.kwargs), None
        except Exception as exc:   # a fault of one entry: kept in its result
            self._result, self._error = None, exc

    @property
    def result(self):
        if self._error is not None:
            raise self._error
        return self._result


class _Multicall:
    def __init__(self, hub):
        self.hub, self.calls = hub, []

    def __getattr__(self, name):
        if name == "host":
            return _Prefixed(self, "host.")
        return self._entry(name)

    def _entry(self, name):
        def add(*args, **kwargs):
            call = _Call(getattr(self.hub, name.replace(".", "_")), args, kwargs)
            self.calls.append(call)
            return call
        return add

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.hub.requests.append([c.fn.__name__ for c in self.calls])
        for c in self.calls:
            c.run()
        return False


class _Prefixed:
    def __init__(self, multicall, prefix):
        self.m, self.prefix = multicall, prefix

    def __getattr__(self, name):
        return self.m._entry(self.prefix + name)


class _Hub:
    """The hub as the take sees it: a task 5 ASSIGNED to host 1 with a stored request."""

    def __init__(self, method, params):
        self.requests = []
        self.request_xml = koji.xmlrpcplus.dumps(tuple(params), methodname=method,
                                                 allow_none=1)
        self.method = method
        self.weight = None

    def getTaskInfo(self, task_id, request=False):
        info = {"id": task_id, "method": self.method, "state": 1, "host_id": 1}
        if request:
            info["request"] = list(koji.xmlrpcplus.loads(self.request_xml)[0])
        return info

    def host_getID(self):
        return 1

    def host_openTask(self, task_id):
        return {"id": task_id, "method": self.method, "state": 1, "host_id": 1,
                "parent": None, "request": self.request_xml}

    def host_setTaskWeight(self, task_id, weight):
        self.weight = weight

    def subsession(self):
        return None   # no subsession: the fork below is not reached in this test


class _Direct:
    """Calls outside a multicall: one request each."""

    def __init__(self, hub, prefix):
        self.hub, self.prefix = hub, prefix

    def __getattr__(self, name):
        fn = getattr(self.hub, self.prefix + name)

        def call(*args, **kwargs):
            self.hub.requests.append([fn.__name__])
            return fn(*args, **kwargs)
        return call


class _Session:
    def __init__(self, hub):
        self.hub = hub
        self.host = _Direct(hub, "host_")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(_Direct(self.hub, ""), name)

    def getSessionInfo(self):
        return {"start_ts": 0}

    def multicall(self, strict=False):
        return _Multicall(self.hub)


def _manager(hub, forked):
    tm = daemon.TaskManager(types.SimpleNamespace(workdir="/nonexistent"), _Session(hub))
    tm.findHandlers(kojitasks.task_classes())
    del hub.requests[:]

    def fork(handler):
        forked.append(handler)
        return 4242, 77

    tm.forkTask = fork
    return tm


def test_constant_weight_handlers_open_in_one_request():
    assert daemon.request_free_weight(tm_cls("newRepo")) == 0.1
    assert daemon.request_free_weight(koji.tasks.SleepTask) == 0.25
    # a host check needs the request: kojid's way
    assert daemon.request_free_weight(
        type("Checked", (koji.tasks.SleepTask,), {"checkHost": lambda s, h: True})) is None
    hub = _Hub("newRepo", [3, None])
    forked = []
    tm = _manager(hub, forked)
    assert tm._take({"id": 5, "method": "newRepo", "state": 1, "host_id": 1})
    # one request: openTask, setTaskWeight, subsession; no getTaskInfo before it
    assert hub.requests == [["host_openTask", "host_setTaskWeight", "subsession"]]
    assert hub.weight == 0.1
    assert tm.pids == {5: 4242}
    # the forked handler runs the stored request
    (handler,) = forked
    assert (handler.id, handler.method, list(handler.params)) == (5, "newRepo", [3, None])


def test_computed_weight_asks_for_the_task_first():
    # runroot's weight is computed from its request: getTaskInfo first, as kojid
    hub = _Hub("runroot", ["tag", "x86_64", ["true"], {"weight": 2.0, "__starstar": True}])
    tm = _manager(hub, [])
    assert daemon.request_free_weight(tm.handlers["runroot"]) is None
    tm._take({"id": 5, "method": "runroot", "state": 1, "host_id": 1})
    assert hub.requests[0] == ["getTaskInfo"]


def test_handler_made_from_the_opened_request():
    hub = _Hub("newRepo", [3, None, {"src": True, "__starstar": True}])
    tm = _manager(hub, [])
    handler = tm._handler_of_opened({"id": 5, "method": "newRepo"}, hub.host_openTask(5))
    assert (handler.id, handler.method) == (5, "newRepo")
    assert list(handler.params) == [3, None] and handler.opts == {"src": True}
    assert hub.requests == []


def tm_cls(method):
    return [c for c in kojitasks.task_classes().values() if c.Methods == [method]][0]


class _CycleHub(_Hub):
    """A host 1 whose hub assigns it task 5 at each getTasks; records the check-ins."""

    def __init__(self, enabled=True):
        super().__init__("newRepo", [3, None])
        self.enabled = enabled
        self.checkins = []

    def listBuildroots(self, **kw):
        return []

    def host_getHostTasks(self):
        return []

    def host_getHost(self):
        return {"id": 1, "enabled": self.enabled, "capacity": 4.0}

    def host_updateHost(self, load, ready, data=None):
        self.checkins.append((load, ready))

    def host_getTasks(self):
        return [{"id": 5, "method": "newRepo", "state": koji.TASK_STATES["ASSIGNED"], "host_id": 1,
                 "weight": 0.1}]


def _cycle(tm):
    tm.prefetch_cycle()
    tm.updateBuildroots(nolocal=True)
    tm.updateTasks()
    return tm.getNextTask()


def _quiet_checks(tm):
    tm.checkSpace = lambda: True
    tm.options.maxjobs = 10
    tm.options.minspace = 1


def test_a_ready_host_checks_in_with_the_cycle_reads():
    hub = _CycleHub()
    forked = []
    tm = _manager(hub, forked)
    _quiet_checks(tm)
    # the first cycle (not ready before): the reads, then check-in and getTasks, then the take
    assert _cycle(tm)
    assert [len(r) for r in hub.requests] == [3, 2, 3]
    assert hub.checkins == [(0.0, True)]
    # ready since: one request a cycle (reads, check-in with the load it had, getTasks)
    del hub.requests[:]
    tm.tasks.clear()
    tm.pids.clear()
    assert _cycle(tm)
    assert hub.requests[0] == ["listBuildroots", "host_getHostTasks", "host_getHost",
                               "host_updateHost", "host_getTasks"]
    assert len(hub.requests) == 2   # the take's openTask multicall
    assert hub.checkins[-1] == (0.1, True)


def test_a_host_no_longer_ready_says_so_and_takes_nothing():
    hub = _CycleHub()
    tm = _manager(hub, [])
    _quiet_checks(tm)
    assert _cycle(tm)
    tm.tasks.clear()
    tm.pids.clear()
    hub.enabled = False   # disabled meanwhile: readyForTask says no
    del hub.requests[:]
    assert not _cycle(tm)
    assert hub.checkins[-2:] == [(0.1, True), (0.0, False)]
    assert not any("host_openTask" in r for r in hub.requests)
    # not ready: the next cycle asks the reads alone, then checks in as not ready
    del hub.requests[:]
    assert not _cycle(tm)
    assert hub.requests[0] == ["listBuildroots", "host_getHostTasks", "host_getHost"]


class _SleepBurstHub(_CycleHub):
    """Host 1 (capacity 4) with six sleep tasks ASSIGNED at once, as getTasks lists them:
    with the weight of a FREE task made by makeTask (1.0), not the sleep handler's (0.25)."""

    def __init__(self):
        super().__init__()
        self.method = "sleep"
        self.request_xml = koji.xmlrpcplus.dumps((1,), methodname="sleep", allow_none=1)
        self.opened = []

    def host_openTask(self, task_id):
        self.opened.append(task_id)
        return dict(super().host_openTask(task_id), weight=1.0)

    def host_getTasks(self):
        return [{"id": i, "method": "sleep", "state": koji.TASK_STATES["ASSIGNED"],
                 "host_id": 1, "weight": 1.0} for i in range(10, 16) if i not in self.opened]


def test_a_cycle_counts_the_weight_a_task_was_opened_with():
    # six sleep tasks of weight 0.25 fit a capacity of 4 (1.5 in all); counted at getTasks'
    # 1.0 each the daemon stopped after the fifth and left the sixth ASSIGNED for a cycle
    hub = _SleepBurstHub()
    forked = []
    tm = _manager(hub, forked)
    _quiet_checks(tm)
    assert _cycle(tm)
    assert hub.opened == [10, 11, 12, 13, 14, 15]
    assert len(forked) == 6
    assert tm.task_load == 1.5
    assert not tm.was_full
