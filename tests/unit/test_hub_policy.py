"""The hub's policy engine (pungi_like.buildsvc.hub.policy) and hub.conf reader (hubconf).

Policies run against a real hub database (SQLite in a temporary top directory, made by
``init_hub``), with the hub's own API functions creating users, tags and builds.
"""

from __future__ import annotations

import types

import koji
import pytest

from pungi_like.buildsvc.db import open_db
from pungi_like.buildsvc.hub import policy as P
from pungi_like.buildsvc.hub.context import context
from pungi_like.errors import ConfigError


@pytest.fixture
def hubdb(tmp_path):
    """A hub database with admin, alice (tag, perm 'builder'), bob (no permission), tags
    f40 (parent base), f40-build, frozen (locked), secret (perm 'secret'), a target f40-candidate
    (build f40-build, dest f40), and builds foo-1-1 (alice's, tagged in f40) and bar-2-1."""
    from pungi_like.buildsvc.hub import builds, tags, targets, users
    from pungi_like.buildsvc.hub.packages import packageListAdd
    from pungi_like.buildsvc.hub.server import HubConfig
    from pungi_like.buildsvc.hub.tagging import tagBuildBypass
    from pungi_like.buildsvc.instance import init_hub
    from pungi_like.buildsvc.pathinfo import PathInfo

    config = init_hub(str(tmp_path / "top"), "admin")
    db = open_db(config.db_url)
    hub = types.SimpleNamespace(config=HubConfig(topdir=config.topdir, db_url=config.db_url),
                                pathinfo=PathInfo(config.topdir), policy=None)
    with db.engine.begin() as conn:
        context.reset()
        context.hub, context.conn = hub, conn
        context.user = users.getUser("admin")
        ids = {}
        for name in ("alice", "bob"):
            ids[name] = users.createUser(name)
        users.grantPermission("alice", "tag")
        users.grantPermission("alice", "builder", create=True)
        users.grantPermission("admin", "secret", create=True)
        tags.createTag("base")
        tags.createTag("f40", parent="base")
        tags.createTag("f40-build", parent="f40")
        tags.createTag("frozen", locked=True)
        tags.createTag("secret", perm="secret")
        targets.createBuildTarget("f40-candidate", "f40-build", "f40")
        ids["foo"] = builds.createEmptyBuild("foo", "1", "1", None, owner="alice")
        ids["bar"] = builds.createEmptyBuild("bar", "2", "1", None, draft=True)
        packageListAdd("f40", "foo", owner="alice")
        tagBuildBypass("f40", "foo-1-1")
        ids.update({t: tags.getTag(t)["id"] for t in ("base", "f40", "f40-build", "frozen",
                                                      "secret")})
        ids["admin"] = context.user["id"]
        context.user = None
        yield types.SimpleNamespace(ids=ids, hub=hub, conn=conn, users=users)
        context.reset()
        conn.rollback()
    db.dispose()


def as_user(env, name):
    context.user = env.users.getUser(name) if name else None
    context._perms = None


def rules(*lines, tests=None):
    return koji.policy.SimpleRuleSet(list(lines), tests or P.TESTS)


def run(env, line, data, user=None):
    """The result of one test line against ``data`` as ``user``."""
    as_user(env, user)
    return rules(line + " :: yes", "all :: no").apply(dict(data)) == "yes"


# ---------------------------------------------------------------------------------------------
# the rule language (koji.policy) with the hub's tests


def test_rule_language_actions_negation_and_nesting(hubdb):
    rs = rules("bool scratch :: allow scratch builds are fine",
               "match source git* !! deny not from git",  # !! acts when the tests fail
               "match source git+https://* && ! has repo_id :: {",
               "    match source *pkgs* :: allow",
               "    all :: deny not from pkgs",
               "}",
               "none :: allow never",
               "all :: deny fallthrough")
    assert rs.apply({"scratch": True, "source": "x"}) == "allow scratch builds are fine"
    assert rs.apply({"source": "x.src.rpm"}) == "deny not from git"
    assert rs.apply({"source": "git+https://pkgs/x#1"}) == "allow"
    assert rs.apply({"source": "git+https://other/x#1"}) == "deny not from pkgs"
    assert rs.apply({"source": "git+https://pkgs/x#1", "repo_id": 3}) == "deny fallthrough"
    assert sorted(rs.all_actions()) == ["allow", "deny"]


def test_generic_tests_true_false_compare_target_match_any(hubdb):
    assert run(hubdb, "true", {}) and not run(hubdb, "false", {})
    assert run(hubdb, "compare priority < 10", {"priority": 5})
    assert not run(hubdb, "compare priority >= 10", {"priority": 5})
    assert run(hubdb, "target f40-*", {"target": "f40-candidate"})
    assert run(hubdb, "match_any arches x86_64 s390*", {"arches": ["ppc64le", "s390x"]})
    assert not run(hubdb, "match_all arches x86_64", {"arches": ["x86_64", "aarch64"]})


def test_has_perm_user_and_groups(hubdb):
    assert run(hubdb, "has_perm tag", {}, "alice")
    assert run(hubdb, "has_perm admin build*", {}, "alice")      # glob patterns
    assert not run(hubdb, "has_perm tag", {}, "bob")
    assert not run(hubdb, "has_perm tag", {}, "admin")            # admin is not implied
    assert not run(hubdb, "has_perm tag", {}, None)               # anonymous
    # user_id in the data wins over the caller (host calls evaluate for the task owner)
    assert run(hubdb, "has_perm tag", {"user_id": hubdb.ids["alice"]}, "bob")
    assert run(hubdb, "user al*", {}, "alice") and not run(hubdb, "user al*", {}, "bob")
    assert not run(hubdb, "user *", {}, None)
    assert not run(hubdb, "user_in_group packagers", {}, "alice")  # no group members here


def test_tag_fromtag_operation_hastag(hubdb):
    i = hubdb.ids
    assert run(hubdb, "tag f4*", {"tag": i["f40"]})
    assert run(hubdb, "tag f40", {"tag": "f40"})                 # name or id
    assert not run(hubdb, "tag f40", {"tag": None})
    assert not run(hubdb, "tag f40", {"tag": "no-such-tag"})
    assert run(hubdb, "fromtag frozen", {"fromtag": i["frozen"]})
    assert not run(hubdb, "fromtag frozen", {"tag": i["frozen"]})
    assert run(hubdb, "operation move untag", {"operation": "untag"})
    assert not run(hubdb, "operation move untag", {"operation": "tag"})
    assert run(hubdb, "hastag f*", {"build": i["foo"]})
    assert not run(hubdb, "hastag f*", {"build": i["bar"]})
    assert not run(hubdb, "hastag f*", {})


def test_package_is_new_package_version_release(hubdb):
    assert run(hubdb, "package foo", {"build": "foo-1-1"})
    assert run(hubdb, "package b*", {"package": "bar"})
    assert run(hubdb, "is_new_package", {"package": "brand-new"})
    assert not run(hubdb, "is_new_package", {"package": "foo"})
    assert run(hubdb, "version 1", {"build": hubdb.ids["foo"]})
    assert run(hubdb, "release 1*", {"build": hubdb.ids["bar"]})
    with pytest.raises(koji.GenericError, match="policy requires package data"):
        run(hubdb, "package foo", {})
    with pytest.raises(koji.GenericError, match="No such package"):
        run(hubdb, "package foo", {"package": 999999})


def test_build_owner_draft_volume_imported_buildtype_source(hubdb):
    i = hubdb.ids
    assert run(hubdb, "is_build_owner", {"build": i["foo"]}, "alice")
    assert not run(hubdb, "is_build_owner", {"build": i["foo"]}, "bob")
    assert run(hubdb, "is_draft", {"build": i["bar"]})
    assert not run(hubdb, "is_draft", {"build": i["foo"]})
    assert run(hubdb, "is_draft", {"draft": True})
    assert run(hubdb, "volume DEFAULT", {"build": i["foo"]})
    assert not run(hubdb, "volume DEFAULT", {"volume": "nope"})
    assert not run(hubdb, "imported", {"build": i["foo"]})       # no RPMs at all
    with pytest.raises(koji.GenericError, match="must contain a build"):
        run(hubdb, "imported", {})
    assert run(hubdb, "buildtype rpm", {"btypes": ["rpm"]})
    assert not run(hubdb, "buildtype image", {"btypes": ["rpm"]})
    assert run(hubdb, "source git+https://*", {"source": "git+https://h/r#1"})
    assert not run(hubdb, "source git*", {"build": i["foo"]})     # no source, no task


def test_cg_tests_buildtag_and_inheritance(hubdb):
    assert run(hubdb, "cg_match_any koji*", {"cg_list": ["kojira", "other"]})
    assert not run(hubdb, "cg_match_all koji*", {"cg_list": ["kojira", "other"]})
    assert not run(hubdb, "cg_match_all koji*", {"build": hubdb.ids["foo"]})  # no CGs
    assert run(hubdb, "buildtag f40-build", {"build_tag": hubdb.ids["f40-build"]})
    assert run(hubdb, "buildtag f40-b*", {"target": "f40-candidate"})
    assert not run(hubdb, "buildtag f40-build", {})
    assert run(hubdb, "buildtag_inherits_from base", {"build_tag": "f40-build"})
    assert not run(hubdb, "buildtag_inherits_from f40-build", {"build_tag": "f40-build"})


def test_task_tests_and_skip_tag(hubdb):
    assert run(hubdb, "is_child_task", {"parent": 12})
    assert not run(hubdb, "is_child_task", {"parent": None})
    assert run(hubdb, "method build*", {"method": "buildArch"})
    assert run(hubdb, "vm_name win*", {"vm_name": "win10"})
    assert run(hubdb, "skip_tag", {"skip_tag": True}) and not run(hubdb, "skip_tag", {})


def test_policy_test_and_loop_detection(hubdb):
    hubdb.hub.policy = P.load_policies({
        "inner": "has_perm tag :: allow\nall :: deny",
        "outer": "policy inner :: allow\nall :: deny no",
        "loop": "policy loop :: allow\nall :: deny"})
    as_user(hubdb, "alice")
    assert P.check_policy("outer", {}) == (True, "")
    as_user(hubdb, "bob")
    assert P.check_policy("outer", {}) == (False, "no")
    with pytest.raises(koji.GenericError, match="encountered policy loop"):
        P.check_policy("loop", {})
    hubdb.hub.policy = P.load_policies({"bad": "policy nope :: allow"})
    with pytest.raises(koji.GenericError, match="no such policy: nope"):
        P.check_policy("bad", {})


# ---------------------------------------------------------------------------------------------
# defaults and check_policy / assert_policy


def test_defaults_are_kojis(hubdb):
    hubdb.hub.policy = P.load_policies()
    as_user(hubdb, "bob")
    with pytest.raises(koji.ActionNotAllowed) as err:
        P.assert_policy("build_from_srpm", {})
    assert str(err.value) == ("policy violation (build_from_srpm): Only admin can do this via "
                              "default policy")
    assert P.check_policy("package_list", {"tag": hubdb.ids["f40"]}) == (
        False, "Only admin/tag can do this via default policy")
    as_user(hubdb, "alice")
    assert P.check_policy("package_list", {})[0] is True
    assert P.check_policy("build_from_repo_id", {}) == (
        False, "Only admin can do this via default policy")
    as_user(hubdb, "admin")
    for name in ("build_from_srpm", "build_from_repo_id", "build_from_scm", "package_list",
                 "build_rpm", "cg_import"):
        assert P.check_policy(name, {})[0] is True, name
    assert P.eval_policy("channel", {"req_channel": "image"}) == "req"
    assert P.eval_policy("channel", {"parent": 5}) == "parent"
    assert P.eval_policy("channel", {}) == "use default"
    assert P.eval_policy("volume", {}) == "DEFAULT"
    assert P.eval_policy("priority", {}) == "stay"
    as_user(hubdb, "alice")
    assert P.check_policy("draft_promotion", {"build": hubdb.ids["foo"]})[0] is True
    as_user(hubdb, "bob")
    assert P.check_policy("draft_promotion", {"build": hubdb.ids["foo"]})[1].startswith(
        "Only draft-promoter and build owner")
    assert P.check_policy("vm", {})[0] is False


def test_missing_and_uncovered_policies_force_and_errors(hubdb):
    hubdb.hub.policy = P.load_policies({"tag": "tag f40 :: allow", "odd": "all :: maybe"})
    as_user(hubdb, "bob")
    # no 'tag' default in Koji: a missing policy allows (MissingPolicyOk) ...
    assert P.check_policy("no_such", {}) == (True, "missing policy")
    hubdb.hub.config.missing_policy_ok = False
    assert P.check_policy("no_such", {}) == (False, "missing policy")
    # ... a policy that covers nothing gives the default
    assert P.check_policy("tag", {"tag": "frozen"}) == (False, "not covered by policy")
    assert P.check_policy("tag", {"tag": "frozen"}, default="allow")[0] is True
    assert P.check_policy("odd", {}) == (False, "error in policy")
    with pytest.raises(koji.ActionNotAllowed, match=r"^policy violation \(odd\): error in"):
        P.assert_policy("odd", {})
    # force: admins only
    assert P.check_policy("tag", {"tag": "frozen"}, force=True)[0] is False
    as_user(hubdb, "admin")
    assert P.check_policy("tag", {"tag": "frozen"}, force=True) == (True, "overriden by force")
    hubdb.hub.config.verbose_policy = True
    as_user(hubdb, "bob")
    with pytest.raises(koji.ActionNotAllowed, match=r"\[rule: "):
        P.assert_policy("tag", {"tag": "frozen"})
    with pytest.raises(koji.GenericError, match="no such policy: nope"):
        P.eval_policy("nope", {})


def test_load_policies_reports_bad_rules():
    with pytest.raises(P.PolicyError, match=r"policy tag: missing test handler: nosuch"):
        P.load_policies({"tag": "nosuch thing :: allow"})
    with pytest.raises(P.PolicyError, match=r"policy tag: bad policy line: has_perm admin"):
        P.load_policies({"tag": "has_perm admin allow"})
    with pytest.raises(P.PolicyError, match=r"policy x: nesting error"):
        P.load_policies({"x": "all :: {\n  all :: allow"})
    # a configured policy replaces the default of the same name; others stay
    loaded = P.load_policies({"build_from_srpm": "all :: allow"})
    assert loaded["build_from_srpm"].apply({}) == "allow"
    assert set(P.DEFAULT_POLICIES) <= set(loaded)


def test_check_tag_access(hubdb):
    i = hubdb.ids
    as_user(hubdb, "alice")
    assert P.check_tag_access(i["f40"]) == (True, False, "")
    assert P.check_tag_access(i["frozen"]) == (False, False, "tag is locked")
    assert P.check_tag_access(i["secret"]) == (False, False, "tag requires secret permission")
    assert P.check_tag_access(i["secret"], i["admin"]) == (True, True, "")
    assert P.check_tag_access(i["frozen"], i["admin"]) == (False, True, "tag is locked")
    with pytest.raises(koji.ActionNotAllowed, match="tag is locked"):
        P.assert_tag_access(i["frozen"])
    as_user(hubdb, "admin")
    P.assert_tag_access(i["frozen"], force=True)    # admin + force passes a lock
    as_user(hubdb, None)
    with pytest.raises(koji.GenericError, match="a user_id is required"):
        P.check_tag_access(i["f40"])


def test_policy_data_from_task_args(hubdb):
    assert P.policy_data_from_task_args(
        "build", ["git+https://h/r#1", "f40-candidate", {"scratch": True}]) == {
        "source": "git+https://h/r#1", "target": "f40-candidate", "scratch": True}
    assert P.policy_data_from_task_args("newRepo", ["f40"]) == {"tag": "f40"}
    assert P.policy_data_from_task_args(
        "tagBuild", [hubdb.ids["f40"], 1, False, None]) == {"tag": "f40"}  # tag_id, by name
    assert P.policy_data_from_task_args("build", ["x.src.rpm", "no-such-target"]) == {
        "source": "x.src.rpm", "target": None}
    assert P.policy_data_from_task_args("noSuchMethod", [1, 2]) == {}


# ---------------------------------------------------------------------------------------------
# hub.conf


def _conf(tmp_path, text):
    path = tmp_path / "hub.conf"
    path.write_text(text)
    return str(path)


FIELDS = {"login_creates_user", "proxy_dns", "dn_username_component", "max_request_length",
          "missing_policy_ok", "verbose_policy", "allowed_scms", "allowed_scms_use_policy",
          "policy", "db_url"}
FLAGS = {"listen": "listen", "tls-cert": "tls_cert", "threads": "threads"}


def test_hub_conf_koji_options_policy_and_ours(tmp_path, caplog):
    from pungi_like.buildsvc.hub.hubconf import read_hub_conf
    from pungi_like.buildsvc.hub.server import HubConfig

    path = _conf(tmp_path, """\
[hub]
DBName = koji
DBUser = koji user
DBPass = p@ss
DBHost = db.example.com
DBPort = 5433
kojidir = /srv/koji
DNUsernameComponent = UID
ProxyDNs = /CN=proxy1 | /CN=proxy2
LoginCreatesUser = off
MaxRequestLength = 1048576
VerbosePolicy = yes
KojiWebURL = https://koji.example.com/koji

[policy]
tag =
    has_perm admin :: allow
    # a comment line inside the rules
    all :: deny no

[pungi-like]
listen = 0.0.0.0:8443
tls-cert = /etc/pki/hub.crt
threads = 8
allowed_scms = git.example.com:/rpms/* :/srv/git/*
""")
    conf = read_hub_conf(path, FIELDS, FLAGS)
    assert conf.topdir == "/srv/koji"
    assert conf.db_url == "postgresql://koji%20user:p%40ss@db.example.com:5433/koji"
    assert conf.settings == {
        "dn_username_component": "UID", "proxy_dns": ["/CN=proxy1", "/CN=proxy2"],
        "login_creates_user": False, "max_request_length": 1048576, "verbose_policy": True,
        "allowed_scms": ["git.example.com:/rpms/*", ":/srv/git/*"]}
    assert conf.cli == {"listen": "0.0.0.0:8443", "tls_cert": "/etc/pki/hub.crt",
                        "threads": "8"}
    assert [line.strip() for line in conf.policy["tag"].splitlines() if line.strip()] == [
        "has_perm admin :: allow", "all :: deny no"]
    assert "KojiWebURL" in caplog.text or "kojiweburl" in caplog.text
    config = conf.apply(HubConfig(topdir="/srv/koji", db_url="sqlite:///x"))
    assert config.db_url.startswith("postgresql://") and config.login_creates_user is False
    assert P.load_policies(config.policy)["tag"].apply({}) == "deny no"


@pytest.mark.parametrize("text, message", [
    ("[hub]\nDBName = k\nNoSuchOption = 1\n",
     r"hub.conf:3: \[hub\] nosuchoption: unknown option \(not a Koji hub.conf option"),
    ("[hub]\nMaxRequestLength = lots\n",
     r"hub.conf:2: \[hub\] maxrequestlength: expected an integer, got 'lots'"),
    ("[hub]\nLoginCreatesUser = perhaps\n", r"hub.conf:2: \[hub\] logincreatesuser: expected "
                                           r"a boolean"),
    ("[pungi-like]\nthreads = 2\nlisten_addr = x\n",
     r"hub.conf:3: \[pungi-like\] listen_addr: unknown option \(known here: allowed_scms"),
    ("[webui]\nx = 1\n", r"hub.conf: unknown section \[webui\]"),
    ("[hub]\nDBName = k\n[pungi-like]\ndb_url = sqlite:///x\n", r"either as db_url or"),
    ("[hub\n", r"hub.conf: File contains no section headers|hub.conf: .*"),
])
def test_hub_conf_errors_name_file_line_and_option(tmp_path, text, message):
    from pungi_like.buildsvc.hub.hubconf import read_hub_conf

    with pytest.raises(ConfigError, match=message):
        read_hub_conf(_conf(tmp_path, text), FIELDS, FLAGS)


def test_hub_conf_db_connection_string_and_missing_file(tmp_path):
    from pungi_like.buildsvc.hub.hubconf import db_url_from_koji, read_hub_conf

    assert db_url_from_koji({"DBConnectionString": "dbname=koji user=k host=/run/pg"}) == \
        "postgresql://k@/koji?host=%2Frun%2Fpg"
    assert db_url_from_koji({"DBConnectionString": "dbname=koji user=k host=h port=6"}) == \
        "postgresql://k@h:6/koji"
    assert db_url_from_koji({"DBName": "koji"}) == "postgresql:///koji"
    with pytest.raises(ConfigError, match="cannot read hub configuration .*nope.conf"):
        read_hub_conf(str(tmp_path / "nope.conf"), FIELDS, FLAGS)


def test_cli_flags_override_the_file(tmp_path):
    from pungi_like.cli.hub import _with_hub_conf, build_parser

    path = _conf(tmp_path, "[hub]\nKojiDir = %s\n[pungi-like]\nlisten = 127.0.0.1:9999\n"
                           "threads = 3\nlog-level = INFO\n" % (tmp_path / "top"))
    args = _with_hub_conf(build_parser(), ["serve", "--config", path, "--threads", "5"])
    assert args.topdir == str(tmp_path / "top")
    assert args.listen == ("127.0.0.1", 9999)          # converted by the flag's own type
    assert args.threads == 5 and args.log_level == "INFO"
    args = _with_hub_conf(build_parser(), ["serve", "--config", path, "--topdir", "/x"])
    assert args.topdir == "/x" and args.threads == 3
    with pytest.raises(SystemExit):
        _with_hub_conf(build_parser(), ["serve"])       # no topdir from anywhere


def test_hub_conf_name_checks_map_onto_the_hub_config(tmp_path):
    from pungi_like.buildsvc.hub.hubconf import hub_field_names, read_hub_conf
    from pungi_like.buildsvc.hub.server import HubConfig

    path = _conf(tmp_path, "[hub]\nRegexNameInternal = ^[a-z0-9-]+$\n"
                           "MaxNameLengthInternal = 32\nRegexUserName = ^[a-z]+$\n")
    config = read_hub_conf(path, hub_field_names(), FLAGS).apply(
        HubConfig(topdir=str(tmp_path), db_url="sqlite:///x"))
    assert (config.regex_name_internal, config.max_name_length_internal,
            config.regex_user_name) == ("^[a-z0-9-]+$", 32, "^[a-z]+$")


def test_host_tag_build_checks_policy_and_access_for_the_task_owner(hubdb):
    from sqlalchemy import update

    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub import build_api, hosts, tagging, tasks

    hubdb.hub.policy = P.load_policies({"tag": "user alice && tag base :: deny not alice\n"
                                               "all :: allow"})
    as_user(hubdb, "admin")
    hosts.addHost("builder1", ["x86_64"])
    as_user(hubdb, "alice")
    task_id = tasks.make_task("build", ["x.src.rpm", "f40-candidate", {}])
    host = hubdb.users.getUser("builder1")
    hubdb.conn.execute(update(s.task).where(s.task.c.id == task_id).values(
        state=koji.TASK_STATES["OPEN"], host_id=hosts.getHost("builder1")["id"]))
    # a user is no host
    context.session = {"id": 1, "user_id": hubdb.ids["alice"]}
    with pytest.raises(koji.AuthError, match="is not a host"):
        P.host_evalPolicy("tag", {})
    context.user, context._perms = host, None
    context.session = {"id": 2, "user_id": host["id"]}
    assert P.host_evalPolicy("tag", {"tag": "base", "user_id": hubdb.ids["alice"]}) == \
        "deny not alice"
    assert P.host_checkPolicy("tag", {"tag": "base", "user_id": hubdb.ids["bob"]}) == [True, ""]
    # the policy sees the task's owner (alice), not the host
    with pytest.raises(koji.ActionNotAllowed, match=r"policy violation \(tag\): not alice"):
        build_api.host_tagBuild(task_id, "base", "foo-1-1")
    with pytest.raises(koji.ActionNotAllowed, match="tag requires secret permission"):
        build_api.host_tagBuild(task_id, "secret", "foo-1-1")
    build_api.host_tagBuild(task_id, "f40-build", "foo-1-1")
    assert [b["nvr"] for b in tagging.listTagged("f40-build")] == ["foo-1-1"]
    context.session = None
