"""Issue 11: the hub's ``_listapi`` lists every hub method the installed koji CLI calls.

The methods are found at test time by reading the source of the installed ``koji_cli`` package
and its bundled plugins (``koji_cli_plugins``): every ``session.X(``, ``session.host.X(`` and
call on a multicall object (``m.X(`` inside ``with session.multicall() as m``), minus the
client-side methods of ``koji.ClientSession`` itself (logins, uploads, multicall plumbing).
No hand-kept list: a newer CLI that calls a new method makes this test name it.
"""

from __future__ import annotations

import inspect
import os
import re

import koji
import pytest

pytestmark = pytest.mark.integration

#: ``session.getTag(``, ``session.host.taskWait(``, ``session.scheduler.getTaskRuns(``,
#: ``self.session.X(``
_SESSION_CALL = re.compile(r"\bsession\.(?:([A-Za-z_]\w*)\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\(")
#: ``with session.multicall(...) as m:``: calls on ``m`` in that block go to the hub
_MC_WITH = re.compile(r"^(?P<indent>[ \t]*)with\s+\w*session\.multicall\([^)]*\)\s+as\s+(?P<var>\w+)"
                      r"\s*:", re.M)
#: the hub methods ClientSession's own methods call by name (logins, uploads, multicall)
_BY_NAME = re.compile(r"""(?:_callMethod|callMethod|_prepCall)\(\s*['"]([A-Za-z_.]+)['"]""")


def _client_side():
    """Methods the ClientSession object answers itself (never sent to the hub)."""
    names = {n for n, _v in inspect.getmembers(koji.ClientSession) if not n.startswith("__")}
    # ``session.X(`` where X is an attribute of MultiCallSession is client-side too
    names |= {n for n, _v in inspect.getmembers(koji.MultiCallSession)
              if not n.startswith("__")}
    return names - {"_listapi"}


def _instance_attributes():
    """Attributes ClientSession sets on itself (``self.opts = ...``)."""
    return set(re.findall(r"\bself\.(\w+)\s*=", inspect.getsource(koji.ClientSession)))


def _sources():
    import koji_cli
    import koji_cli_plugins

    # koji_cli_plugins is a namespace package: walk every directory of its __path__
    for top in list(koji_cli.__path__) + list(koji_cli_plugins.__path__):
        for root, _dirs, files in os.walk(top):
            for fn in sorted(files):
                if fn.endswith(".py"):
                    with open(os.path.join(root, fn), encoding="utf-8") as f:
                        yield os.path.join(os.path.basename(top), fn), f.read()


def _multicall_blocks(text):
    """(body, variable) of each ``with session.multicall() as VAR:`` block (the lines indented
    deeper than the ``with``), so a later ``m = re.match(...)`` is not taken for a multicall."""
    lines = text.splitlines()
    for m in _MC_WITH.finditer(text):
        indent = len(m.group("indent").expandtabs())
        start = text.count("\n", 0, m.start()) + 1
        body = []
        for line in lines[start:]:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
        yield "\n".join(body), m.group("var")


def cli_hub_methods():
    """{method: first file that calls it} for the installed koji CLI and its plugins."""
    client = _client_side()
    found = {}
    for path, text in _sources():
        names = []
        for m in _SESSION_CALL.finditer(text):
            prefix, name = m.group(1), m.group(2)
            if prefix:
                # a namespace of hub methods (host., repo., scheduler., system.), not an
                # attribute of the client object (session.opts.get(...))
                if prefix not in client and prefix not in _instance_attributes():
                    names.append(prefix + "." + name)
            elif name not in client:
                names.append(name)
        for block, var in _multicall_blocks(text):
            for m in re.finditer(r"\b%s\.([A-Za-z_][A-Za-z0-9_]*)\s*\(" % re.escape(var), block):
                if m.group(1) not in client:
                    names.append(m.group(1))
        for name in names:
            found.setdefault(name, path)
    for name in _BY_NAME.findall(inspect.getsource(koji.ClientSession)):
        found.setdefault(name, "koji.ClientSession")
    return found


def test_the_cli_method_scan_finds_known_calls():
    """The scan itself works: it sees calls made directly, through multicalls and by plugins,
    and leaves out the ClientSession's own methods."""
    found = cli_hub_methods()
    assert {"getTag", "listTagged", "getBuild", "getLoggedInUser"} <= set(found)
    # called only as m.X( inside ``with session.multicall() as m`` in 1.36.1
    assert "disableChannel" in found and "enableChannel" in found
    assert "runroot" in found          # the runroot plugin
    assert not {"ssl_login", "gssapi_login", "uploadWrapper", "groups"} & set(found)
    # ... but the hub calls those client methods make are in
    assert {"sslLogin", "multiCall", "checkUpload", "logout"} <= set(found)
    assert len(found) > 150, len(found)


def _answered_outside_the_registry():
    """Names the hub answers without listing them, as Koji's hub does: the multicall names
    (dispatched before the method table) and ``rawUpload``, which ClientSession._prepCall turns
    into the fast-upload POST that hub/uploads.py serves."""
    from pungi_like.buildsvc.hub.dispatch import MULTICALL_NAMES

    assert "rawUpload" in inspect.getsource(koji.ClientSession._prepCall)
    return set(MULTICALL_NAMES) | {"rawUpload"}


def test_listapi_covers_every_method_the_cli_calls(hub):
    cs = koji.ClientSession(hub.url, {"serverca": hub.ca})
    listed = {m["name"] for m in cs._listapi()}
    assert set(cs.system.listMethods()) == listed
    needed = cli_hub_methods()
    listed |= _answered_outside_the_registry()
    missing = sorted(n for n in needed if n not in listed)
    assert not missing, "hub methods the koji CLI calls that the hub lacks: %s" % ", ".join(
        "%s (%s)" % (n, needed[n]) for n in missing)
    # each listed method answers system.methodHelp with its signature
    assert cs.system.methodHelp("snapshotTag").startswith(
        "snapshotTag(src, dst, config=True, pkgs=True, builds=True, groups=True")
    entry = [m for m in cs._listapi() if m["name"] == "setTaskPriority"][0]
    assert entry["args"] == ["task_id", "priority", ["recurse", True]]
