"""Python child processes that run a module of this package (builders, the record parse, the
gather workers).

``python -m MODULE`` puts the working directory first on the child's ``sys.path``: a compose
started from a release's config directory holding a ``json.py`` or a ``solv.py`` (or a
builder started from any directory) would have imported that file instead of the library.
The children run with ``-P`` (no such entry) and find this very ``pungi_like`` - also an
export run with ``PYTHONPATH`` - through the directory above it, put first on their
``PYTHONPATH``. The standard-library-only children (the reuse precheck, the digest prefill,
the native ISO writer) run isolated instead (``-I -S``)."""

import os
import sys

#: the directory holding this pungi_like package (and the top-level ``phases`` package)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_command(module, *args):
    """The command line that runs ``module`` (``python -m``) in a child, without the working
    directory on its path."""
    return [sys.executable, "-P", "-m", module, *args]


def module_env(env=None):
    """``env`` (this process's environment by default), copied, with :data:`ROOT` first on
    ``PYTHONPATH`` (once)."""
    env = dict(os.environ if env is None else env)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + rest)
    return env
