"""The hub scheduler's settings: hub.conf's Koji [scheduler] options (MaxJobs, AssignTimeout,
...) become HubConfig fields and win over queue.json and the defaults."""

from __future__ import annotations

import types

import pytest

from pungi_like.buildsvc.hub import scheduler
from pungi_like.buildsvc.hub.hubconf import hub_field_names, read_hub_conf
from pungi_like.buildsvc.hub.server import HubConfig


def _hub(tmp_path, config):
    return types.SimpleNamespace(config=config, pathinfo=types.SimpleNamespace(
        topdir=str(tmp_path)))


def test_hub_conf_scheduler_options_override_queue_json_and_defaults(tmp_path):
    conf = tmp_path / "hub.conf"
    conf.write_text("[hub]\nMaxJobs = 3\nAssignTimeout = 42\nCapacityOvercommit = 1\n"
                    "RunInterval = 7\n")
    scheduler.write_settings(str(tmp_path), assign_timeout=5.0, ready_timeout=11.0)
    config = read_hub_conf(str(conf), hub_field_names(), {}).apply(
        HubConfig(topdir=str(tmp_path), db_url="sqlite://"))
    got = scheduler.settings(_hub(tmp_path, config))
    assert (got["max_jobs"], got["assign_timeout"], got["capacity_overcommit"],
            got["run_interval"]) == (3, 42, 1, 7)
    assert got["ready_timeout"] == 11.0                       # queue.json, hub.conf silent
    assert got["host_timeout"] == scheduler.DEFAULTS["host_timeout"]


def test_scheduler_defaults_are_kojis():
    d = scheduler.DEFAULTS
    # Koji 1.34+'s hub defaults: MaxJobs 15, CapacityOvercommit 5, ReadyTimeout 180,
    # AssignTimeout 300, SoftRefusalTimeout 900
    assert (d["max_jobs"], d["capacity_overcommit"], d["ready_timeout"], d["assign_timeout"],
            d["soft_refusal_timeout"]) == (15, 5, 180, 300, 900)


def test_bad_scheduler_option_value_names_the_line(tmp_path):
    from pungi_like.errors import ConfigError

    conf = tmp_path / "hub.conf"
    conf.write_text("[hub]\nMaxJobs = many\n")
    with pytest.raises(ConfigError, match=r"hub.conf:2.*MaxJobs|hub.conf:2.*maxjobs"):
        read_hub_conf(str(conf), hub_field_names(), {})
