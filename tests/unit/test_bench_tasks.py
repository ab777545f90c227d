"""The throughput part's accounting in bench/bench_tasks.py: /proc stat fields, per-host
first opens, CPU a task by group."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

bench_tasks = pytest.importorskip("bench_tasks")


def test_stat_fields_after_a_command_name_with_spaces_and_parentheses():
    line = ("4242 (task (x) 1) S 1 4242 4242 0 -1 4194304 100 0 0 0 "
            "17 5 3 2 20 0 1 0 100 0 0\n")
    fields = bench_tasks._stat_fields(line)
    assert fields[0] == "S"
    assert [int(x) for x in fields[11:15]] == [17, 5, 3, 2]   # utime stime cutime cstime


def test_daemon_cpu_counts_live_children():
    # this process as the "daemon": its own CPU, and a child's that has not been reaped
    import subprocess

    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.3: pass\n"
                              "time.sleep(30)"])
    try:
        tick = os.sysconf("SC_CLK_TCK")
        for _ in range(200):
            own, children = bench_tasks._daemon_cpu(os.getpid())
            if children >= 0.3 - 1.0 / tick:
                break
            import time
            time.sleep(0.05)
        assert children >= 0.3 - 1.0 / tick
        assert own > 0
    finally:
        child.kill()
        child.wait()


def test_host_starts_first_open_and_count_per_host():
    tasks = [{"host_id": 1, "start_ts": 100.5}, {"host_id": 2, "start_ts": 100.25},
             {"host_id": 1, "start_ts": 100.25}, {"host_id": 1, "start_ts": None},
             {"host_id": None, "start_ts": None}]
    starts = bench_tasks.host_starts(tasks, {1: "b1", 2: "b2", 3: "b3"}, 100.0)
    assert starts == {"b1": (0.25, 2), "b2": (0.25, 1), "b3": (None, 0)}


def test_per_task_ms_groups_and_total():
    ms = bench_tasks.per_task_ms({"hub": 2.0, "daemons": 1.0, "task processes": 4.0}, 200)
    assert ms == {"hub": 10.0, "daemons": 5.0, "task processes": 20.0, "PostgreSQL": 0.0,
                  "total": 35.0}
