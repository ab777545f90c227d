"""Finding 4 of issue 8: names are checked as Koji checks them, and no path leaves the top
directory, neither through a new name nor through a bad name already stored.

The first test drives a hub over HTTPS (both backends) as an admin and as a user holding only the
``tag`` permission; the others call the hub's internal functions in-process, on a real database
and file tree, for names that an older hub stored before names were checked.
"""

from __future__ import annotations

import os
import uuid

import koji
import pytest
from hubcheck_helpers import session
from sqlalchemy import insert, select

pytestmark = pytest.mark.integration


def _fault(func, *args, **kw):
    with pytest.raises(koji.GenericError) as info:
        func(*args, **kw)
    return str(info.value)


def test_bad_names_are_refused(hub):
    admin = session(hub)
    admin.createTag("names-ok", arches="x86_64")
    top_before = sorted(os.listdir(os.path.dirname(hub.topdir)))

    # the user: only the tag permission
    admin.createUser("tagger")
    alice = session(hub, "alice")
    admin.grantPermission("alice", "tag")
    msg = _fault(alice.createTag, "../../../../../tmp/x")
    assert "cannot be used" in msg and "'..'" in msg
    assert alice.getTag("../../../../../tmp/x") is None

    bad_internal = ["../x", "a/../b", "/abs", "a//b", ".", "sp ace", "x" * 257]
    for name in bad_internal:
        for call in (lambda n: admin.createTag(n),
                     lambda n: admin.editTag2("names-ok", name=n),
                     lambda n: admin.createBuildTarget(n, "names-ok", "names-ok"),
                     lambda n: admin.packageListAdd("names-ok", n, owner="kojiadmin"),
                     lambda n: admin.groupListAdd("names-ok", n),
                     lambda n: admin.createExternalRepo(n, "https://example.com/r/"),
                     lambda n: admin.addHost(n, ["x86_64"]),
                     lambda n: admin.createUser(n),
                     lambda n: admin.grantPermission("tagger", n, create=True),
                     lambda n: admin.createEmptyBuild(n, "1.0", "1", None)):
            msg = _fault(call, name)
            assert any(s in msg for s in ("does not match Regex", "cannot be used",
                                          "too long", "should be string")), (name, msg)
    # Koji's default limit is 256; the name columns hold 255, so that is the limit in effect
    assert "Max length is 255" in _fault(admin.createTag, "x" * 256)
    assert admin.createTag("x" * 255)
    assert "does not match RegexNameInternal" in _fault(admin.createTag, "tag with space")
    assert "does not match RegexUserName" in _fault(admin.createUser, "user+plus")

    # a build: Koji's NVR rules, and version/release are single path components
    assert 'The "-" character not allowed in version field' in _fault(
        admin.createEmptyBuild, "pkg", "1-0", "1", None)
    assert "not allowed" in _fault(admin.createEmptyBuild, "pkg", "..", "1", None)
    assert "not allowed" in _fault(admin.createEmptyBuild, "pkg", "1.0", "a/b", None)
    assert "Architecture can be only" in _fault(admin.createTag, "names-arch",
                                                arches="x86_64 ../up")

    # none of it happened: no tag, build, user or package by those names, nothing written
    tags = {t["name"] for t in admin.listTags()}
    assert tags == {"names-ok", "x" * 255}
    assert admin.listBuilds() == []
    assert sorted(os.listdir(os.path.dirname(hub.topdir))) == top_before
    # and good names still work, "/" included as Koji allows it
    assert admin.createTag("f40/updates-candidate")
    admin.createEmptyBuild("pkg", "1.0", "1.fc40", None)
    assert admin.getBuild("pkg-1.0-1.fc40")["version"] == "1.0"
    admin.addHost("builder-1.example.com", ["x86_64"])
    admin.addHostToChannel("builder-1.example.com", "new-channel_1", create=True)
    assert "cannot be used" in _fault(admin.addHostToChannel, "builder-1.example.com",
                                      "../chan", create=True)
    assert admin.getChannel("../chan") is None


# --- in-process: the hub's own functions on a real database and file tree --------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def inproc(request, tmp_path):
    """``(call, hub)``: run a function inside one transaction as the admin of a fresh hub."""
    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub.context import context
    from pungi_like.buildsvc.hub.server import HubApp
    from pungi_like.buildsvc.instance import init_hub

    pg_name = None
    db_url = None
    admin_url = os.environ.get("PUNGI_LIKE_PG_URL",
                               "postgresql://postgres@127.0.0.1:5432/postgres")
    if request.param == "postgres":
        import psycopg

        pg_name = "pl_names_test_%s" % uuid.uuid4().hex[:12]
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE DATABASE %s" % pg_name)
        db_url = admin_url.rsplit("/", 1)[0] + "/" + pg_name
    # the top directory is two levels down: "repos/../../../x" resolves to tmp_path/x
    cfg = init_hub(str(tmp_path / "site" / "top"), "admin", db_url)
    hub = HubApp(cfg)

    def call(func, *args, **kw):
        with hub.db.engine.begin() as conn:
            context.reset()
            context.hub, context.conn = hub, conn
            context.user = dict(conn.execute(select(s.users).where(
                s.users.c.name == "admin")).first()._mapping)
            try:
                return func(*args, **kw)
            finally:
                context.reset()

    yield call, hub
    hub.db.dispose()
    if pg_name:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def _old_bad_tag(name):
    """Store a tag the way a hub without name checks did (straight into the tables)."""
    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub.common import insert_versioned
    from pungi_like.buildsvc.hub.context import context

    tag_id = context.conn.execute(insert(s.tag).values(name=name)
                                  .returning(s.tag.c.id)).scalar_one()
    insert_versioned(s.tag_config, tag_id=tag_id, arches="x86_64", locked=False,
                     maven_support=False, maven_include_all=False)
    return tag_id


def test_stored_bad_tag_name_cannot_lead_repos_outside(inproc, tmp_path):
    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub import repos, scheduler
    from pungi_like.buildsvc.hub.context import context

    call, hub = inproc
    bad = "../../../escaped"
    outside = tmp_path / "escaped"          # where repos/<bad>/ would resolve
    assert os.path.normpath(os.path.join(hub.pathinfo.topdir, "repos", bad)) == str(outside)
    tag_id = call(_old_bad_tag, bad)

    # repo generation (host.repoInit's work) refuses instead of writing repos/../../escaped/N
    with pytest.raises(koji.GenericError, match="Invalid path component"):
        call(repos.repo_init, tag_id)
    assert not outside.exists()

    # expiry of an old repo of that tag: the files are not deleted (nor looked for) outside,
    # and the repo is still marked DELETED so housekeeping does not stall on it
    outside.mkdir()
    (outside / "7").mkdir()
    (outside / "7" / "keep.txt").write_text("victim")

    def old_expired_repo():
        ev = context.conn.execute(insert(s.events).values(ts=1.0).returning(s.events.c.id)
                                  ).scalar_one()
        return context.conn.execute(insert(s.repo).values(
            create_event=ev, create_ts=1.0, tag_id=tag_id, state=koji.REPO_STATES["EXPIRED"],
            state_ts=1.0, dist=False).returning(s.repo.c.id)).scalar_one()

    repo_id = call(old_expired_repo)
    deleted = call(scheduler.delete_expired_repos, 0)
    assert repo_id in deleted
    assert (outside / "7" / "keep.txt").read_text() == "victim"
    state = call(lambda: context.conn.execute(select(s.repo.c.state).where(
        s.repo.c.id == repo_id)).scalar_one())
    assert state == koji.REPO_STATES["DELETED"]

    # repoDone of a repo of that tag cannot place files or a "latest" link outside
    def init_repo():
        ev = context.conn.execute(insert(s.events).values(ts=2.0).returning(s.events.c.id)
                                  ).scalar_one()
        return context.conn.execute(insert(s.repo).values(
            create_event=ev, create_ts=2.0, tag_id=tag_id, state=koji.REPO_STATES["INIT"],
            state_ts=2.0, dist=False).returning(s.repo.c.id)).scalar_one()

    init_id = call(init_repo)
    with pytest.raises(koji.GenericError):
        call(repos.repo_done, init_id, {})
    assert sorted(os.listdir(outside)) == ["7"]
    assert not os.path.lexists(tmp_path / "latest")


def test_image_import_takes_only_files_of_the_task(inproc, tmp_path):
    from pungi_like.buildsvc.hub import builds, images, tasks
    from pungi_like.buildsvc.hub.context import context

    call, hub = inproc
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret.iso").write_bytes(b"secret")

    def setup():
        task_id = tasks.make_task("image", ["img", "1", ["x86_64"], "t", "ks"])
        build_id = builds.new_build("img", "1", "1", None,
                                    state=koji.BUILD_STATES["BUILDING"])
        return task_id, build_id

    task_id, build_id = call(setup)
    workdir = hub.pathinfo.task(task_id)
    os.makedirs(workdir)
    rel = os.path.relpath(victim / "secret.iso", workdir)
    assert rel.startswith("../") and os.path.exists(os.path.join(workdir, rel))

    def do_import(name):
        task = dict(context.conn.execute(select(tasks.s.task).where(
            tasks.s.task.c.id == task_id)).first()._mapping)
        build = builds.get_build_row(build_id, strict=True)
        return images.import_image(task, build, {"task_id": task_id, "files": [name],
                                                 "arch": "x86_64", "logs": [rel]})

    for name in (rel, "/" + rel.lstrip("./"), "sub/../" + rel, "..", "a\x00b"):
        with pytest.raises(koji.GenericError, match="Invalid image file name"):
            call(do_import, name)
    assert (victim / "secret.iso").read_bytes() == b"secret"
    assert not os.path.islink(victim / "secret.iso")
    assert not os.path.exists(os.path.join(hub.pathinfo.imagebuild(
        {"name": "img", "version": "1", "release": "1"}), "secret.iso"))


def test_name_checks_follow_the_hub_settings(inproc):
    """RegexNameInternal / MaxNameLengthInternal / RegexUserName are HubConfig settings."""
    from pungi_like.buildsvc.hub import tags, users

    call, hub = inproc
    hub.config.regex_name_internal = r"^[a-z-]+$"
    hub.config.max_name_length_internal = 8
    hub.config.regex_user_name = ""          # "" turns a regex check off, as in Koji
    assert "does not match RegexNameInternal" in _fault(call, tags.createTag, "f40")
    assert "Max length is 8" in _fault(call, tags.createTag, "abcdefghi")
    assert call(tags.createTag, "abc-def")
    assert call(users.createUser, "user+x")
    # the path checks stay on whatever the regex allows
    hub.config.regex_name_internal = ""
    assert "cannot be used" in _fault(call, tags.createTag, "..")
    hub.config.max_name_length_internal = 0  # 0: no limit but the columns' 255
    assert call(tags.createTag, "long-" * 51)
    assert "Max length is 255" in _fault(call, tags.createTag, "long-" * 52)
    hub.config.regex_name_internal = "^[a-z"
    assert "RegexNameInternal setting '^[a-z' is not a valid regular expression" in _fault(
        call, tags.createTag, "abc")


def test_kojifiles_serves_nothing_that_resolves_outside(hub, tmp_path):
    """/kojifiles follows links only while they stay inside the top directory."""
    import ssl
    import urllib.error
    import urllib.request

    victim = tmp_path / "outside-secret.txt"
    victim.write_text("secret")
    images = os.path.join(hub.topdir, "images")
    os.symlink(str(victim), os.path.join(images, "planted.iso"))
    os.makedirs(os.path.join(hub.topdir, "work", "inside"), exist_ok=True)
    with open(os.path.join(hub.topdir, "work", "inside", "ok.txt"), "w") as f:
        f.write("fine")
    os.symlink(os.path.join(hub.topdir, "work", "inside", "ok.txt"),
               os.path.join(images, "inner-link.txt"))
    ctx = ssl.create_default_context(cafile=hub.ca)
    base = hub.url.replace("/kojihub", "/kojifiles")

    def get(rel):
        try:
            with urllib.request.urlopen(base + rel, context=ctx, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""

    assert get("/images/planted.iso") == (403, b"")
    assert get("/images/inner-link.txt") == (200, b"fine")
    assert get("/images/%2e%2e/%2e%2e/outside-secret.txt")[0] in (403, 404)
    assert get("/images/")[0] == 200


def test_login_does_not_create_a_user_with_a_bad_name(hub, pki):
    """LoginCreatesUser makes users from certificate names: they pass RegexUserName first."""
    from pungi_like.buildsvc import certs

    certs.make_user_cert(str(pki), "eve x")
    s = koji.ClientSession(hub.url, {"serverca": hub.ca})
    with pytest.raises(koji.GenericError, match="does not match RegexUserName"):
        s.ssl_login(cert=str(pki / "eve x.pem"), serverca=hub.ca)
    assert session(hub).getUser("eve x") is None
