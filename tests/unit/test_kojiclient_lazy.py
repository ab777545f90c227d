"""koji's client library is imported only where a build service is used: the driver, the
build-service wrapper and the image_build phase load without it (it costs 0.25 s with rpm and
requests, a large part of a no-op re-run), and the task states written out in kojiclient are
koji's own."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_driver_and_wrapper_load_without_koji():
    code = ("import sys; import pungi_like.cli.compose_driver, pungi_like.kojiclient, "
            "phases.image_build, phases; "
            "from pungi_like.config.registry import get_registry; get_registry(); "
            "print(sorted(m for m in ('koji', 'rpm', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout.strip()
    assert out == "[]"


def test_lazy_koji_is_koji_and_finished_states_match():
    import koji

    from pungi_like import kojiclient

    assert kojiclient.koji.TASK_STATES is koji.TASK_STATES
    assert kojiclient.koji.GenericError is koji.GenericError
    assert kojiclient.FINISHED_STATES == {koji.TASK_STATES[s]
                                         for s in ("CLOSED", "CANCELED", "FAILED")}
    errors = kojiclient.connection_errors()
    assert koji.ServerOffline in errors and ConnectionError in errors
