"""Issue 11: every command of ``koji help --admin`` and ``koji help`` runs against a seeded hub
without "Invalid method" and without a Python traceback.

The command list is read from the installed CLI's help at test time. Each command gets
arguments made from its own usage line (``<tag>`` becomes a tag of the seeded hub, ``<task id>``
a task id, ...): right enough to reach the hub, wrong enough that nothing waits. Commands that
would wait on a task get ``--nowait`` when they have it. Commands that change or delete the
seeded objects run last, so the others see them. One koji process per command, as a user types.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from conftest import KOJI

pytestmark = pytest.mark.integration

#: the seeded objects arguments are made from, by a word of the placeholder
SEED = {
    "tag": "seed-tag", "target": "seed-target", "build": "hello-2.1-3", "nvr": "hello-2.1-3",
    "n-v-r": "hello-2.1-3", "package": "hello", "pkg": "hello", "user": "alice",
    "username": "alice", "host": "builder9", "hostname": "builder9", "channel": "default",
    "rpm": "hello-2.1-3.x86_64", "group": "build", "arch": "x86_64", "arches": "x86_64",
    "permission": "repo", "perm": "repo", "volume": "DEFAULT", "repo": "seed-repo",
    "key": "abcd1234", "sigkey": "abcd1234", "method": "getTag", "priority": "10",
    "search": "package", "pattern": "hel*", "name": "seed-name", "version": "1",
}
#: commands whose usage line the generic rule cannot read
EXPLICIT = {
    "call": ["getTag", "seed-tag"],
    "build": ["--nowait", "seed-target", "git://example.invalid/x#abc"],
    "set-task-priority": ["--priority=10", "TASK"],
    # watching a task that never runs (no builder here) would wait for ever: watch a finished one
    "watch-task": ["DONE"],
    "watch-logs": ["DONE"],
    # with no builder no repo ever comes (--timeout=0 waits for ever): a tag that does not exist
    "wait-repo": ["--timeout=1", "no-such-tag"],
}
#: commands that alter or delete what the others need: run last
LAST = re.compile(r"^(remove|delete|disable|revoke|untag|block|lock|unlock|edit|rename|"
                  r"set-build-volume|cancel|free-task|move-build|clone-tag|prune)")
PER_COMMAND_TIMEOUT = 60


def _commands(hub):
    names = []
    for extra in (["--admin"], []):
        out = subprocess.run([KOJI, "-c", hub.conf, "-p", "kojiadmin", "help"] + extra,
                             capture_output=True, text=True, timeout=60).stdout
        for line in out.splitlines():
            m = re.match(r"^\s+([a-z][a-z0-9-]+)\s{2,}\S", line)
            if m and m.group(1) not in names:
                names.append(m.group(1))
    return names


def _handlers():
    """{command: (usage text, handler source)} read from the installed CLI's source, so the
    usage lines cost no koji process each."""
    import koji_cli
    import koji_cli_plugins

    found = {}
    for top in list(koji_cli.__path__) + list(koji_cli_plugins.__path__):
        for root, _dirs, files in os.walk(top):
            for fn in sorted(files):
                if not fn.endswith(".py"):
                    continue
                with open(os.path.join(root, fn), encoding="utf-8") as f:
                    text = f.read()
                parts = re.split(r"^def ", text, flags=re.M)
                for body in parts[1:]:
                    m = re.match(r"(?:anon_)?handle_(\w+)\(", body)
                    if not m:
                        continue
                    u = re.search(r"usage\s*=\s*(?:_\()?\s*['\"]usage: %prog [\w-]+ ?([^'\"]*)", body)
                    found.setdefault(m.group(1).replace("_", "-"),
                                     (u.group(1) if u else "", body))
    return found


def _value_for(placeholder, task_id, tmpfile):
    words = re.split(r"[\s_/|.-]+", placeholder.strip("<>[]. ").lower())
    if any(w in ("id", "task") for w in words) and "task" in placeholder.lower():
        return str(task_id)
    for w in words:
        if w in ("file", "path", "filename", "srpm", "spec", "config", "metadata", "directory",
                 "dir", "file(s)", "comps", "kickstart", "ks"):
            return tmpfile
        if w in ("url", "scm"):
            return "git://example.invalid/x#abc"
        if w in SEED:
            return SEED[w]
    if "id" in words:
        return "1"
    return "x"


def _arguments(usage, options_text, task_id, tmpfile):
    """Arguments for one command from its usage line (the first form if there are several)."""
    form = usage.split("\n")[0]
    args = []
    for ph in re.findall(r"(?<!=)<[^>]+>", form):
        args.append(_value_for(ph, task_id, tmpfile))
    for flag in ("--nowait", "--noprogress"):
        if '"%s"' % flag in options_text:
            args.insert(0, flag)
    if '"--timeout"' in options_text and '"--nowait"' not in options_text:
        args.insert(0, "--timeout=0")   # give up after the first look
    return args


@pytest.fixture
def seeded(hub, tmp_path):
    from pungi_like.universe.rpmbuild import Package, build_packages

    built = build_packages([Package(name="hello", version="2.1", release="3", arch="x86_64",
                                    files={"/usr/bin/hello": "#!/bin/sh\necho hi\n"})],
                           tmp_path / "rpms", workdir=tmp_path / "rpmbuild")
    hub.koji("add-tag", "seed-tag", "--arches", "x86_64")
    hub.koji("add-tag", "seed-dest", "--arches", "x86_64")
    hub.koji("add-target", "seed-target", "seed-tag", "seed-dest")
    hub.koji("add-pkg", "--owner", "kojiadmin", "seed-tag", "hello")
    hub.koji("import", *(sorted(built.srpms) + sorted(built.rpms)))
    hub.koji("tag-build", "--nowait", "seed-tag", "hello-2.1-3")
    hub.koji("add-group", "seed-tag", "build")
    hub.koji("add-host", "builder9", "x86_64")
    hub.koji("add-user", "carol")
    rc, out, _e = hub.koji("call", "--python", "makeTask", "'newRepo'", "['seed-tag']")
    hub.task_id = int(out.strip())
    rc, out, _e = hub.koji("call", "--python", "makeTask", "'newRepo'", "['seed-tag']")
    hub.done_task_id = int(out.strip())
    hub.koji("cancel", str(hub.done_task_id))
    tmpfile = tmp_path / "input.txt"
    tmpfile.write_text("x\n")
    hub.tmpfile = str(tmpfile)
    return hub


def test_every_command_reaches_the_hub_without_invalid_method(seeded):
    hub = seeded
    commands = _commands(hub)
    assert len(commands) > 140 and "clone-tag" in commands and "search" in commands
    first = [c for c in commands if not LAST.match(c)]
    last = [c for c in commands if LAST.match(c)]
    handlers = _handlers()
    assert len([c for c in commands if c in handlers]) > 140
    problems, ran = [], []
    start = time.monotonic()
    for command in first + last:
        usage, options_text = handlers.get(command, ("", ""))
        if command in EXPLICIT:
            ids = {"TASK": str(hub.task_id), "DONE": str(hub.done_task_id)}
            args = [ids.get(a, a) for a in EXPLICIT[command]]
        else:
            args = _arguments(usage, options_text, hub.task_id, hub.tmpfile)
        cmd = [KOJI, "-c", hub.conf, "-p", "kojiadmin", command] + args
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=PER_COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append("%s: still running after %d s" % (" ".join(cmd[5:]),
                                                             PER_COMMAND_TIMEOUT))
            continue
        text = proc.stdout + proc.stderr
        last_line = (text.strip().splitlines() or [""])[-1]
        ran.append((command, proc.returncode, last_line))
        if "Invalid method" in text or "Traceback (most recent call last)" in text:
            problems.append("%s -> %d:\n%s" % (" ".join(cmd[5:]), proc.returncode,
                                               text[-1500:]))
    elapsed = time.monotonic() - start
    assert not problems, "%d of %d commands failed:\n\n%s" % (
        len(problems), len(commands), "\n\n".join(problems))
    assert len(ran) == len(commands)
    # the hub served all of it and is still up
    assert hub.proc.poll() is None
    # what the wrong-ish arguments led to, for the reader of the test log
    for command, rc, last_line in ran:
        if rc != 0:
            print("  %-28s rc=%d  %s" % (command, rc, last_line[:110]))
    print("ran %d koji commands in %.0f s; %d exited 0" % (
        len(ran), elapsed, sum(1 for _c, rc, _l in ran if rc == 0)))
