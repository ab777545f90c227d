"""Hub policies from a hub.conf, driven with the real koji CLI.

The hub is initialised and served with ``--config hub.conf`` only (KojiDir, the database, the
listen address and TLS files all come from the file); its ``[policy]`` section changes
decisions that Koji's defaults make differently, and ``evalPolicy``/``checkTagAccess`` answer
as Koji's do. A second hub without a ``[policy]`` section shows the defaults.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid

import pytest

from pungi_like.buildsvc.certs import write_koji_profile

HUB = [sys.executable, "-m", "pungi_like.cli.hub"]
KOJI = [sys.executable.rsplit("/", 1)[0] + "/koji"]
USERS = ("kojiadmin", "alice", "bob")
PG_ADMIN = ("127.0.0.1", 5432, "postgres")

POLICY = """
[policy]
tag =
    has_perm admin :: allow
    fromtag frozen-* && operation untag move :: deny nothing leaves a frozen tag
    tag rel-* && ! user alice :: deny only alice releases
    has_perm tag :: allow
    all :: deny only taggers may tag

package_list =
    has_perm admin :: allow
    tag f* && ! has_perm pkgadmin :: deny package lists of f* tags need pkgadmin
    all :: allow

build_from_srpm =
    has_perm admin srpm-builder :: allow
    all :: deny Only admin can do this via default policy

channel =
    has req_channel :: req
    is_child_task :: parent
    method build && user bob :: use createrepo
    all :: use default
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ConfHub:
    def __init__(self, tmp_path, pki, policy, backend="sqlite"):
        self.topdir = tmp_path / "top"
        self.port = _free_port()
        self.url = "https://127.0.0.1:%d/kojihub" % self.port
        self.pg_name = None
        if backend == "postgres":
            import psycopg

            self.pg_name = "pl_policy_test_%s" % uuid.uuid4().hex[:12]
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                 autocommit=True, connect_timeout=5) as conn:
                conn.execute("CREATE DATABASE %s" % self.pg_name)
            # Koji's own options name the database
            db = "DBName = %s\nDBHost = %s\nDBPort = %d\nDBUser = %s\n" % (
                (self.pg_name,) + PG_ADMIN)
        else:
            db = ""
        self.conf_path = tmp_path / "hub.conf"
        self.conf_path.write_text(
            "[hub]\nKojiDir = %s\n%sLoginCreatesUser = true\n%s\n"
            "[pungi-like]\nlisten = 127.0.0.1:%d\ntls-cert = %s\ntls-key = %s\nclient-ca = %s\n"
            "threads = 4\nlog-level = INFO\n"
            % (self.topdir, db, policy, self.port, pki / "server.crt", pki / "server.key",
               pki / "ca.crt"))
        subprocess.run(HUB + ["init", "--config", str(self.conf_path), "--admin", USERS[0]],
                       check=True, capture_output=True)
        # no builder here: the hub runs tagBuild tasks itself
        from pungi_like.buildsvc.hub.scheduler import write_settings

        write_settings(str(self.topdir), tag_tasks_in_hub=True)
        self.log_path = tmp_path / "hub.log"
        self.proc = subprocess.Popen(HUB + ["serve", "--config", str(self.conf_path)],
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        self.koji_conf = str(tmp_path / "koji.conf")
        for u in USERS:
            write_koji_profile(self.koji_conf, u, self.url, str(pki / (u + ".pem")),
                               str(pki / "ca.crt"))
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("hub did not start:\n" + self.log_path.read_text())
                time.sleep(0.1)

    def koji(self, *args, user="kojiadmin", check=True):
        proc = subprocess.run(KOJI + ["-c", self.koji_conf, "-p", user] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError("koji %s failed:\n%s%s" % (args, proc.stdout, proc.stderr))
        return proc

    def call(self, method, *args, user="kojiadmin"):
        """``koji call --json``: the decoded result."""
        out = self.koji("call", "--json", method, *[json.dumps(a) for a in args], user=user)
        return json.loads(out.stdout)

    def refused(self, *args, user):
        """Run a koji command that must fail; returns its fault text."""
        proc = self.koji(*args, user=user, check=False)
        assert proc.returncode != 0, (args, proc.stdout)
        return proc.stderr.strip().splitlines()[-1]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.pg_name:
            import psycopg

            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                 autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_name)


@pytest.fixture
def policy_hub(request, tmp_path, pki, koji_available):
    """A hub with POLICY on SQLite (or the backend a test asks for, indirectly)."""
    hub = ConfHub(tmp_path, pki, POLICY, getattr(request, "param", "sqlite"))
    hub.koji("add-user", "alice")
    hub.koji("add-user", "bob")
    hub.koji("grant-permission", "tag", "alice")
    hub.koji("grant-permission", "tag", "bob")
    for tag in ("dest", "frozen-1", "rel-1", "f40"):
        hub.koji("add-tag", tag)
    hub.koji("add-tag", "base", "--arches", "x86_64")
    hub.koji("add-tag", "locked", "--parent", "base")
    hub.koji("edit-tag", "--lock", "locked")
    hub.koji("add-target", "dest-candidate", "base", "dest")
    hub.call("createEmptyBuild", "foo", "1", "1", None)
    for tag in ("dest", "frozen-1", "rel-1", "f40"):
        hub.koji("add-pkg", "--owner", "alice", tag, "foo")
    hub.koji("call", "tagBuildBypass", "frozen-1", "foo-1-1")
    yield hub
    hub.stop()


# PostgreSQL once, named by Koji's DB* options in the hub.conf; the other tests on SQLite only
@pytest.mark.parametrize("policy_hub", ["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)],
                         indirect=True)
def test_tag_policy_from_hub_conf(policy_hub):
    hub = policy_hub
    # has_perm tag :: allow (alice and bob hold 'tag')
    hub.koji("tag-build", "--nowait", "dest", "foo-1-1", user="bob")
    assert "foo-1-1" in hub.koji("list-tagged", "dest").stdout
    # tag rel-* && ! user alice :: deny
    err = hub.refused("tag-build", "--nowait", "rel-1", "foo-1-1", user="bob")
    assert err.endswith("ActionNotAllowed: policy violation (tag): only alice releases"), err
    hub.koji("tag-build", "--nowait", "rel-1", "foo-1-1", user="alice")
    assert "foo-1-1" in hub.koji("list-tagged", "rel-1").stdout
    # fromtag frozen-* && operation untag move :: deny - for untag and move, not for admin
    err = hub.refused("untag-build", "frozen-1", "foo-1-1", user="alice")
    assert "policy violation (tag): nothing leaves a frozen tag" in err, err
    err = hub.refused("move-build", "--nowait", "frozen-1", "f40", "foo-1-1", user="alice")
    assert "policy violation (tag): nothing leaves a frozen tag" in err, err
    assert "foo-1-1" in hub.koji("list-tagged", "frozen-1").stdout
    hub.koji("untag-build", "frozen-1", "foo-1-1")
    assert "foo-1-1" not in hub.koji("list-tagged", "frozen-1").stdout
    # the tag access check (Koji's, before the policy): a locked tag refuses even taggers
    hub.koji("add-pkg", "--owner", "alice", "base", "foo")
    err = hub.refused("call", "tagBuildBypass", "locked", "foo-1-1", user="alice")
    assert err.endswith("ActionNotAllowed: tag is locked"), err


def test_package_list_and_build_policies_from_hub_conf(policy_hub):
    hub = policy_hub
    # package_list: f* tags need pkgadmin (alice has 'tag', which the default would accept)
    err = hub.refused("add-pkg", "--owner", "alice", "f40", "bar", user="alice")
    assert "policy violation (package_list): package lists of f* tags need pkgadmin" in err
    hub.koji("grant-permission", "--new", "pkgadmin", "alice")
    hub.koji("add-pkg", "--owner", "alice", "f40", "bar", user="alice")
    # ... and other tags are open to anyone logged in (the default would refuse bob)
    hub.koji("revoke-permission", "tag", "bob")
    hub.koji("add-pkg", "--owner", "bob", "dest", "baz", user="bob")
    assert "baz" in hub.koji("list-pkgs", "--tag", "dest").stdout
    # build_from_srpm: a user with srpm-builder may build from an uploaded SRPM
    src = "cli-build/1.abc/foo-1-1.src.rpm"
    err = hub.refused("call", "build", src, "dest-candidate", user="bob")
    assert err.endswith("ActionNotAllowed: policy violation (build_from_srpm): Only admin can "
                        "do this via default policy"), err
    hub.koji("grant-permission", "--new", "srpm-builder", "bob")
    task_id = hub.call("build", src, "dest-candidate", user="bob")
    # channel: method build && user bob :: use createrepo; alice's scratch build: default
    alice_task = hub.call("build", src, "dest-candidate", {"scratch": True}, user="alice")
    channels = {c["name"]: c["id"] for c in hub.call("listChannels")}
    assert hub.call("getTaskInfo", task_id)["channel_id"] == channels["createrepo"]
    assert hub.call("getTaskInfo", alice_task)["channel_id"] == channels["default"]
    # a requested channel is used (has req_channel :: req)
    req_task = hub.call("build", src, "dest-candidate", {"scratch": True}, None, "image",
                        user="alice")
    assert hub.call("getTaskInfo", req_task)["channel_id"] == channels["image"]


def test_eval_policy_and_check_tag_access_answer_as_koji(policy_hub):
    hub = policy_hub
    ids = {t: hub.call("getTag", t)["id"] for t in ("dest", "frozen-1", "locked")}
    users = {u: hub.call("getUser", u)["id"] for u in ("alice", "bob", "kojiadmin")}
    # evalPolicy: the action text, for anyone (Koji's RootExports.evalPolicy)
    data = {"tag": ids["dest"], "fromtag": ids["frozen-1"], "operation": "move",
            "user_id": users["alice"]}
    assert hub.call("evalPolicy", "tag", data, user="bob") == "deny nothing leaves a frozen tag"
    data.update(fromtag=None, operation="tag")
    assert hub.call("evalPolicy", "tag", data) == "allow"
    assert hub.call("evalPolicy", "channel", {"method": "build", "user_id": users["bob"]}) \
        == "use createrepo"
    assert hub.call("evalPolicy", "volume", {}) == "DEFAULT"          # a default policy
    err = hub.refused("call", "--json", "evalPolicy", '"no_such_policy"', "{}", user="bob")
    assert err.endswith("GenericError: no such policy: no_such_policy"), err
    # checkTagAccess: [access, override, reason]
    assert hub.call("checkTagAccess", ids["dest"], users["bob"]) == [True, False, ""]
    assert hub.call("checkTagAccess", ids["locked"], users["bob"]) == \
        [False, False, "tag is locked"]
    assert hub.call("checkTagAccess", ids["locked"], users["kojiadmin"]) == \
        [False, True, "tag is locked"]
    assert hub.call("checkTagAccess", ids["locked"], user="alice") == \
        [False, False, "tag is locked"]                       # the caller, without user_id


def test_defaults_without_policy_section(tmp_path, pki, koji_available):
    hub = ConfHub(tmp_path, pki, "")
    try:
        hub.koji("add-user", "alice")
        hub.koji("add-tag", "dest", "--arches", "x86_64")
        # package_list default: admin/tag only
        err = hub.refused("add-pkg", "--owner", "alice", "dest", "foo", user="alice")
        assert err.endswith("ActionNotAllowed: policy violation (package_list): Only admin/tag "
                            "can do this via default policy"), err
        # no tag policy in Koji's defaults: MissingPolicyOk lets a tagger tag
        hub.koji("grant-permission", "tag", "alice")
        hub.koji("add-pkg", "--owner", "alice", "dest", "foo", user="alice")
        hub.call("createEmptyBuild", "foo", "1", "1", None)
        hub.koji("tag-build", "--nowait", "dest", "foo-1-1", user="alice")
        assert "foo-1-1" in hub.koji("list-tagged", "dest").stdout
        err = hub.refused("call", "--json", "evalPolicy", '"tag"', "{}", user="alice")
        assert err.endswith("GenericError: no such policy: tag"), err
        # build_from_srpm and build_from_repo_id: admin only; scratch SRPMs for anyone
        src = "cli-build/1.abc/foo-1-1.src.rpm"
        hub.koji("add-target", "dest-candidate", "dest", "dest")
        err = hub.refused("call", "build", src, "dest-candidate", user="alice")
        assert "policy violation (build_from_srpm): Only admin" in err, err
        hub.call("build", src, "dest-candidate", {"scratch": True}, user="alice")
        err = hub.refused("call", "--json", "build", *[json.dumps(a) for a in (
            src, "dest-candidate", {"scratch": True, "repo_id": 1})], user="alice")
        assert "policy violation (build_from_repo_id): Only admin" in err, err
        assert isinstance(hub.call("build", src, "dest-candidate"), int)      # admin
    finally:
        hub.stop()


def test_bad_policy_or_option_stops_the_hub_with_a_clear_error(tmp_path, pki):
    conf = tmp_path / "hub.conf"
    conf.write_text("[hub]\nKojiDir = %s\n[policy]\ntag =\n    has_prem admin :: allow\n"
                    % (tmp_path / "top"))
    subprocess.run(HUB + ["init", "--config", str(conf), "--admin", "x"], check=True,
                   capture_output=True)
    proc = subprocess.run(HUB + ["serve", "--config", str(conf), "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "error: policy tag: missing test handler: has_prem" in proc.stderr, proc.stderr
    conf.write_text("[hub]\nKojiDir = %s\nDBNmae = koji\n" % (tmp_path / "top"))
    proc = subprocess.run(HUB + ["serve", "--config", str(conf)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "%s:3: [hub] dbnmae: unknown option" % conf in proc.stderr, proc.stderr
