"""The read pages of the web UI, with Koji Web's page names and query parameters.

Every handler takes a :class:`~.app.Request` and returns ``(template, values)``. Data comes from
the hub's API functions through :func:`~.app.call` (same code and permission checks as
XML-RPC). Lists are paginated as Koji Web does: ``start`` (offset) and ``order`` (a key,
``-key`` for descending; ``<prefix>Start``/``<prefix>Order`` when a page has several lists),
50 rows a page.
"""

from __future__ import annotations

import collections
import datetime
import fnmatch
import os
import re
import urllib.parse

import koji

from .app import BadRequest, NotFound, Redirect, cached_call, call

PAGE_SIZE = 50
LOG_TAIL_LINES = 80
LOG_TAIL_BYTES = 64 * 1024
MAX_TERMS = 200      # search terms (a regexp runs in this process over every name)

PAGES = {}


def page(func):
    PAGES[func.__name__] = func
    return func


# ---- helpers for templates ---------------------------------------------------------------------

def url(page_name, **params):
    """``page?k=v...`` (None values dropped), relative to /koji/."""
    params = {k: v for k, v in params.items() if v is not None}
    return page_name + ("?" + urllib.parse.urlencode(params) if params else "")


def with_params(req, **changes):
    """The current page's URL with some parameters changed (None removes one)."""
    params = dict(req.params)
    params.update(changes)
    name = req.environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1] or "index"
    if name == "koji":
        name = "index"
    return url(name, **params)


def fmt_ts(ts):
    if ts is None:
        return ""
    if isinstance(ts, str):
        return ts.split(".")[0]
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def fmt_size(n):
    if n is None:
        return ""
    n = int(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return str(n)


def task_state(n):
    return koji.TASK_STATES.get(n, str(n)).lower() if n is not None else ""


def build_state(n):
    return koji.BUILD_STATES.get(n, str(n)).lower() if n is not None else ""


def repo_state(n):
    return koji.REPO_STATES.get(n, str(n)).lower() if n is not None else ""


def checksum_type(n):
    return koji.CHECKSUM_TYPES.get(n, str(n)) if n is not None else ""


FILTERS = {"ts": fmt_ts, "size": fmt_size, "task_state": task_state,
           "build_state": build_state, "repo_state": repo_state, "checksum_type": checksum_type}
GLOBALS = {"url": url, "with_params": with_params, "PAGE_SIZE": PAGE_SIZE}


class Pager:
    """One page of a list: ``items``, ``start``, ``order``, ``prev_start``, ``next_start``."""

    def __init__(self, items, start, order, prefix, more):
        self.items = items
        self.start = start
        self.order = order
        self.prefix = prefix
        self.prev_start = max(0, start - PAGE_SIZE) if start > 0 else None
        self.next_start = start + PAGE_SIZE if more else None
        self.start_param = prefix + "Start" if prefix else "start"
        self.order_param = prefix + "Order" if prefix else "order"

    @property
    def last(self):
        return self.start + len(self.items)


def paginate(req, fetch, orders, default, prefix=""):
    """A :class:`Pager` over ``fetch(queryOpts)``; ``orders`` are the keys one may sort by."""
    start = req.int(prefix + "Start" if prefix else "start", 0)
    order = req.get(prefix + "Order" if prefix else "order") or default
    if start < 0:
        raise BadRequest("start must not be negative")
    if order.lstrip("-") not in orders:
        raise BadRequest("cannot order by %r; choose one of %s" % (order, ", ".join(orders)))
    items = fetch({"order": order, "offset": start, "limit": PAGE_SIZE + 1})
    return Pager(items[:PAGE_SIZE], start, order, prefix, len(items) > PAGE_SIZE)


def list_pager(req, items, orders, default, prefix=""):
    """:func:`paginate` over a list already in memory (results of calls without queryOpts)."""
    from ..hub.packages import apply_query_opts

    return paginate(req, lambda opts: apply_query_opts(list(items), opts), orders, default,
                    prefix)


def _strict(value, what):
    if not value:
        raise NotFound("No such %s" % what)
    return value


def _user_names(ids):
    out = {}
    for i in {i for i in ids if i is not None}:
        u = call("getUser", i)
        out[i] = u["name"] if u else str(i)
    return out


# ---- index, login ------------------------------------------------------------------------------

@page
def index(req):
    tasks = call("listTasks", {"decode": False, "parent": None},
                 {"order": "-id", "limit": 10})
    builds = call("listBuilds", queryOpts={"order": "-build_id", "limit": 10})
    return "index.html.j2", {"tasks": tasks, "builds": builds}


@page
def login(req):
    """Koji Web's login page: here the TLS client certificate is the login, on every request."""
    return "login.html.j2", {"verify": req.environ.get("SSL_CLIENT_VERIFY"),
                             "cn": req.environ.get("SSL_CLIENT_S_DN_CN")}


# ---- tasks -------------------------------------------------------------------------------------

TASK_ORDERS = ("id", "method", "state", "owner", "arch", "create_ts", "start_ts",
               "completion_ts", "priority")
ACTIVE = [koji.TASK_STATES[s] for s in ("FREE", "OPEN", "ASSIGNED")]


@page
def tasks(req):
    opts = {"decode": False}
    owner = req.get("owner")
    owner_obj = None
    if owner:
        owner_obj = _strict(call("getUser", int(owner) if owner.isdigit() else owner),
                            "user %s" % owner)
        opts["owner"] = owner_obj["id"]
    state = req.get("state") or "active"
    if state == "active":
        opts["state"] = ACTIVE
    elif state != "all":
        if state.upper() not in koji.TASK_STATES:
            raise BadRequest("unknown task state %r" % state)
        opts["state"] = [koji.TASK_STATES[state.upper()]]
    method = req.get("method") or "all"
    if method != "all":
        opts["method"] = method
    host_id = req.int("hostID")
    if host_id is not None:
        opts["host_id"] = host_id
    channel_id = req.int("channelID")
    if channel_id is not None:
        opts["channel_id"] = channel_id
    parent = req.int("parent")
    view = req.get("view") or "tree"
    if view not in ("tree", "toplevel", "flat"):
        raise BadRequest("Invalid value for view: %r" % view)
    if parent is not None:
        opts["parent"] = parent
    elif view in ("tree", "toplevel"):
        opts["parent"] = None
    pager = paginate(req, lambda q: call("listTasks", opts, q), TASK_ORDERS, "-id")
    if view == "tree":
        pager.items = _task_tree(pager.items)
    return "tasks.html.j2", {"pager": pager, "owner": owner_obj, "state": state,
                             "method": method, "view": view, "hostID": host_id,
                             "parent": parent,
                             "states": ["active", "all"] + [s.lower() for s in
                                                            koji.TASK_STATES.keys()]}


def _task_tree(tasks):
    """Koji Web's tree view: each task of the page followed by its descendants, depth first
    by id, each row a copy of the task with ``tree_depth`` (0 for the page's own tasks)."""
    rows = []
    owners = {}
    for task in tasks:
        rows.append(dict(task, tree_depth=0))
        descendants = call("getTaskDescendents", task["id"])

        def walk(parent_id, depth):
            for child in descendants.get(str(parent_id), ()):
                owner = child["owner"]
                if owner not in owners:
                    user = call("getUser", owner)
                    owners[owner] = user["name"] if user else None
                rows.append(dict(child, tree_depth=depth, owner_name=owners[owner]))
                walk(child["id"], depth + 1)

        walk(task["id"], 1)
    return rows


def _task_files(req, task_id):
    files = call("listTaskOutput", task_id, stat=True)
    base = req.hub.pathinfo.task(task_id)
    rel = os.path.relpath(base, req.hub.pathinfo.topdir)
    out = []
    for name, st in sorted(files.items()):
        item = {"name": name, "size": int(st["st_size"]),
                "href": "/kojifiles/%s/%s" % (urllib.parse.quote(rel), urllib.parse.quote(name)),
                "tail": None}
        if name.endswith(".log"):
            item["tail"] = _tail(os.path.join(base, name))
        out.append(item)
    return out


def _tail(path, lines=LOG_TAIL_LINES):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - LOG_TAIL_BYTES))
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])


def _result_text(task):
    try:
        return "ok", call("getTaskResult", task["id"], raise_fault=False)
    except koji.GenericError as exc:
        return "none", str(exc)


@page
def taskinfo(req):
    task_id = req.int("taskID", required=True)
    task = _strict(call("getTaskInfo", task_id, request=True), "task %s" % task_id)
    params = task.pop("request")
    owner = call("getUser", task["owner"]) if task["owner"] is not None else None
    host = call("getHost", task["host_id"]) if task["host_id"] is not None else None
    channel = call("getChannel", task["channel_id"]) if task["channel_id"] else None
    parent = call("getTaskInfo", task["parent"]) if task["parent"] else None
    descendents = call("getTaskDescendents", task_id)
    kind, result = _result_text(task) if task["state"] in (
        koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"]) else ("none", None)
    fault = result if isinstance(result, dict) and "faultCode" in result else None
    builds = call("listBuilds", taskID=task_id)
    failed_children = []
    for kids in descendents.values():
        for kid in kids:
            if kid["state"] == koji.TASK_STATES["FAILED"]:
                _, kres = _result_text(kid)
                failed_children.append({"task": kid, "result": kres,
                                        "files": _task_files(req, kid["id"])})
    return "taskinfo.html.j2", {
        "task": task, "params": params, "owner": owner, "host": host, "channel": channel,
        "parent": parent, "children": descendents, "result": result, "fault": fault,
        "files": _task_files(req, task_id), "builds": builds,
        "failed_children": failed_children,
        "can_cancel": task["state"] in ACTIVE,
        "can_resubmit": task["parent"] is None and task["state"] in (
            koji.TASK_STATES["FAILED"], koji.TASK_STATES["CANCELED"])}


# ---- builds, rpms, archives --------------------------------------------------------------------

BUILD_ORDERS = ("build_id", "nvr", "package_name", "owner_name", "completion_time",
                "creation_time", "state")


@page
def builds(req):
    kw = {}
    user = package = tag = None
    if req.get("userID"):
        user = _strict(call("getUser", req.int_or_name("userID")), "user")
        kw["userID"] = user["id"]
    if req.get("packageID"):
        package = _strict(call("getPackage", req.int_or_name("packageID")), "package")
        kw["packageID"] = package["id"]
    state = req.get("state")
    if state not in (None, "", "all"):
        if not state.isdigit() or koji.BUILD_STATES.get(int(state)) is None:
            raise BadRequest("unknown build state %r" % state)
        kw["state"] = int(state)
    if req.get("prefix"):
        kw["prefix"] = req.get("prefix")
    if req.get("tagID"):
        tag = _strict(call("getTag", req.int_or_name("tagID")), "tag")
        tagged = cached_call("listTagged", tag["id"], inherit=req.get("inherited", "1") == "1",
                             latest=req.get("latest", "1") == "1")
        pager = list_pager(req, tagged, BUILD_ORDERS, "-build_id")
    else:
        pager = paginate(req, lambda q: call("listBuilds", queryOpts=q, **kw), BUILD_ORDERS,
                         "-build_id")
    return "builds.html.j2", {"pager": pager, "by_user": user, "package": package, "tag": tag,
                              "state": state, "prefix": req.get("prefix"),
                              "states": sorted((v, k) for k, v in koji.BUILD_STATES.items()
                                               if isinstance(k, str))}


@page
def buildinfo(req):
    build = _strict(call("getBuild", req.int_or_name("buildID")), "build")
    rpms = call("listRPMs", buildID=build["id"], queryOpts={"order": "nvr"})
    sigs = {}
    for r in rpms:
        sigs[r["id"]] = call("queryRPMSigs", rpm_id=r["id"])
    archives = call("listArchives", buildID=build["id"])
    tags = call("listTags", build=build["id"])
    task = call("getTaskInfo", build["task_id"]) if build.get("task_id") else None
    changelog = _changelog(req, build, rpms)
    return "buildinfo.html.j2", {"build": build, "rpms": rpms, "sigs": sigs,
                                 "archives": archives, "tags": tags, "task": task,
                                 "changelog": changelog,
                                 "pathinfo": koji.PathInfo(topdir="/kojifiles")}


def _changelog(req, build, rpms):
    """The changelog of the build's source RPM (or its first RPM), newest first, up to 20."""
    src = [r for r in rpms if r["arch"] == "src"] or rpms[:1]
    if not src:
        return []
    path = os.path.join(req.hub.pathinfo.topdir,
                        koji.PathInfo(topdir="").build(build).lstrip("/"),
                        koji.PathInfo(topdir="").rpm(src[0]))
    if not os.path.isfile(path):
        return []
    try:
        hdr = koji.get_rpm_header(path)
    except Exception:  # noqa: BLE001 - an unreadable file shows as no changelog
        return []
    entries = []
    for when, who, text in zip(hdr["changelogtime"] or [], hdr["changelogname"] or [],
                               hdr["changelogtext"] or []):
        entries.append({"date": datetime.datetime.fromtimestamp(
            when, datetime.timezone.utc).strftime("%a %b %d %Y"),
            "author": koji.fixEncoding(who), "text": koji.fixEncoding(text)})
    return entries[:20]


@page
def rpminfo(req):
    rpm = _strict(call("getRPM", req.int("rpmID", required=True)), "rpm")
    build = call("getBuild", rpm["build_id"]) if rpm.get("build_id") else None
    sigs = call("queryRPMSigs", rpm_id=rpm["id"])
    return "rpminfo.html.j2", {"rpm": rpm, "build": build, "sigs": sigs}


@page
def archiveinfo(req):
    archive = _strict(call("getArchive", req.int("archiveID", required=True)), "archive")
    build = call("getBuild", archive["build_id"])
    files = call("listArchiveFiles", archive["id"])
    rpms = call("listRPMs", imageID=archive["id"])
    return "archiveinfo.html.j2", {"archive": archive, "build": build, "files": files,
                                   "rpms": rpms, "pathinfo": koji.PathInfo(topdir="/kojifiles")}


# ---- packages ----------------------------------------------------------------------------------

@page
def packages(req):
    kw = {"inherited": req.get("inherited", "1") == "1"}
    tag = user = None
    if req.get("tagID"):
        tag = _strict(call("getTag", req.int_or_name("tagID")), "tag")
        kw["tagID"] = tag["id"]
    if req.get("userID"):
        user = _strict(call("getUser", req.int_or_name("userID")), "user")
        kw["userID"] = user["id"]
    if req.get("prefix"):
        kw["prefix"] = req.get("prefix")
    if not tag and not user:
        kw["inherited"] = False
        kw["with_dups"] = False
    pager = list_pager(req, cached_call("listPackages", **kw),
                       ("package_name", "package_id", "tag_name", "owner_name", "blocked"),
                       "package_name")
    return "packages.html.j2", {"pager": pager, "tag": tag, "by_user": user,
                                "prefix": req.get("prefix")}


@page
def packageinfo(req):
    package = _strict(call("getPackage", req.int_or_name("packageID")), "package")
    tags = list_pager(req, call("listPackages", pkgID=package["id"], with_dups=True),
                      ("tag_name", "owner_name", "blocked"), "tag_name", prefix="tag")
    builds = paginate(req, lambda q: call("listBuilds", packageID=package["id"], queryOpts=q),
                      BUILD_ORDERS, "-build_id", prefix="build")
    return "packageinfo.html.j2", {"package": package, "tags": tags, "builds": builds}


# ---- tags and targets --------------------------------------------------------------------------

@page
def tags(req):
    # (listTags takes queryOpts but ignores them, as Koji's does for order)
    pager = list_pager(req, call("listTags"), ("name", "id"), "name")
    return "tags.html.j2", {"pager": pager}


@page
def taginfo(req):
    tag = _strict(call("getTag", req.int_or_name("tagID")), "tag")
    inheritance = call("getFullInheritance", tag["id"])
    children = call("getFullInheritance", tag["id"], reverse=True)
    targets_build = call("getBuildTargets", buildTagID=tag["id"])
    targets_dest = call("getBuildTargets", destTagID=tag["id"])
    # (what getLatestBuilds returns; the same call as the builds?tagID= page, cached once)
    latest = list_pager(req, cached_call("listTagged", tag["id"], inherit=True, latest=True),
                        BUILD_ORDERS, "package_name", prefix="build")
    pkg_count = len(cached_call("listPackages", tagID=tag["id"], inherited=True))
    external = call("getTagExternalRepos", tag_info=tag["id"])
    groups = call("getTagGroups", tag["id"], incl_reqs=False)
    repo = call("getRepo", tag["id"])
    return "taginfo.html.j2", {"tag": tag, "inheritance": inheritance, "children": children,
                               "targets_build": targets_build, "targets_dest": targets_dest,
                               "latest": latest, "pkg_count": pkg_count, "external": external,
                               "groups": groups, "repo": repo}


@page
def externalrepoinfo(req):
    repo = _strict(call("getExternalRepo", req.int_or_name("extrepoID")), "external repo")
    tags = call("getTagExternalRepos", repo_info=repo["id"])
    return "externalrepoinfo.html.j2", {"repo": repo, "tags": tags}


@page
def buildtargets(req):
    pager = paginate(req, lambda q: call("getBuildTargets", queryOpts=q),
                     ("name", "id", "build_tag_name", "dest_tag_name"), "name")
    return "buildtargets.html.j2", {"pager": pager}


@page
def buildtargetinfo(req):
    if req.get("name"):
        target = call("getBuildTarget", req.get("name"))
    else:
        target = call("getBuildTarget", req.int("targetID", required=True))
    target = _strict(target, "build target")
    return "buildtargetinfo.html.j2", {"target": target}


@page
def repoinfo(req):
    repo = _strict(call("repoInfo", req.int("repoID", required=True)), "repo")
    # dist repos (koji dist-repo) live under repos-dist/, build repos under repos/
    pi = req.hub.pathinfo
    where = pi.distrepo if repo["dist"] else pi.repo
    exist = os.path.isdir(where(repo["id"], repo["tag_name"]))
    return "repoinfo.html.j2", {"repo": repo, "files_exist": exist,
                                "files_top": "repos-dist" if repo["dist"] else "repos"}


# ---- hosts and channels ------------------------------------------------------------------------

@page
def hosts(req):
    state = req.get("state") or "enabled"
    ready = req.get("ready") or "all"
    kw = {}
    if state in ("enabled", "disabled"):
        kw["enabled"] = state == "enabled"
    elif state != "all":
        raise BadRequest("state must be enabled, disabled or all")
    if ready in ("yes", "no"):
        kw["ready"] = ready == "yes"
    elif ready != "all":
        raise BadRequest("ready must be yes, no or all")
    if req.get("channel") not in (None, "", "all"):
        kw["channelID"] = _strict(call("getChannel", req.int_or_name("channel")), "channel")["id"]
    pager = paginate(req, lambda q: call("listHosts", queryOpts=q, **kw),
                     ("name", "id", "arches", "task_load", "capacity", "enabled", "ready"),
                     "name")
    return "hosts.html.j2", {"pager": pager, "state": state, "ready": ready,
                             "channels": call("listChannels")}


@page
def hostinfo(req):
    if req.get("userID"):
        hosts_ = [h for h in call("listHosts") if h.get("user_id") == req.int("userID")]
        host = hosts_[0] if hosts_ else None
    else:
        host = call("getHost", req.int_or_name("hostID"))
    host = _strict(host, "host")
    channels = call("listChannels", hostID=host["id"])
    active = call("listTasks", {"host_id": host["id"], "state": ACTIVE, "decode": False},
                  {"order": "-id", "limit": 20})
    return "hostinfo.html.j2", {"host": host, "channels": channels, "active": active}


@page
def channelinfo(req):
    channel = _strict(call("getChannel", req.int_or_name("channelID")), "channel")
    hosts_ = call("listHosts", channelID=channel["id"])
    active = call("listTasks", {"channel_id": channel["id"], "state": ACTIVE, "decode": False},
                  {"countOnly": True})
    return "channelinfo.html.j2", {"channel": channel, "hosts": hosts_, "active": active}


# ---- users -------------------------------------------------------------------------------------

@page
def users(req):
    prefix = req.get("prefix")
    pager = paginate(req, lambda q: call("listUsers", prefix=prefix, queryOpts=q),
                     ("name", "id"), "name")
    return "users.html.j2", {"pager": pager, "prefix": prefix}


@page
def userinfo(req):
    user = _strict(call("getUser", req.int_or_name("userID")), "user")
    perms = call("getUserPerms", user["id"])
    builds = paginate(req, lambda q: call("listBuilds", userID=user["id"], queryOpts=q),
                      BUILD_ORDERS, "-build_id", prefix="build")
    tasks_ = paginate(req, lambda q: call("listTasks", {"owner": user["id"], "parent": None,
                                                        "decode": False}, q),
                      TASK_ORDERS, "-id", prefix="task")
    return "userinfo.html.j2", {"u": user, "perms": perms, "builds": builds, "tasks": tasks_}


# ---- search and reports ------------------------------------------------------------------------

SEARCH_TYPES = {
    "package": ("packageinfo", "packageID"), "build": ("buildinfo", "buildID"),
    "tag": ("taginfo", "tagID"), "target": ("buildtargetinfo", "targetID"),
    "user": ("userinfo", "userID"), "host": ("hostinfo", "hostID"),
    "rpm": ("rpminfo", "rpmID"),
}


def _search(terms, kind, match):
    if match == "exact":
        test = terms.__eq__
    elif match == "glob":
        test = (lambda n: fnmatch.fnmatchcase(n, terms))
    else:
        rx = re.compile(terms)
        test = (lambda n: rx.search(n) is not None)
    if kind == "package":
        rows = [(p["package_id"], p["package_name"]) for p in cached_call("listPackages")]
    elif kind == "build":
        rows = [(b["build_id"], b["nvr"]) for b in cached_call("listBuilds")]
    elif kind == "tag":
        rows = [(t["id"], t["name"]) for t in call("listTags")]
    elif kind == "target":
        rows = [(t["id"], t["name"]) for t in call("getBuildTargets")]
    elif kind == "user":
        rows = [(u["id"], u["name"]) for u in call("listUsers")]
    elif kind == "host":
        rows = [(h["id"], h["name"]) for h in call("listHosts")]
    else:
        rows = []
        if match == "exact":
            found = call("getRPM", terms)
            rows = [(found["id"], terms)] if found else []
        else:
            for b in call("listBuilds"):
                for r in call("listRPMs", buildID=b["build_id"]):
                    rows.append((r["id"], "%(name)s-%(version)s-%(release)s.%(arch)s" % r))
    return [{"id": i, "name": n} for i, n in rows if test(n)]


@page
def search(req):
    terms = (req.get("terms") or "").strip()
    values = {"terms": terms, "type": req.get("type") or "package",
              "match": req.get("match") or "glob", "pager": None, "error": None,
              "types": sorted(SEARCH_TYPES)}
    if not terms:
        return "search.html.j2", values
    kind, match = values["type"], values["match"]
    if len(terms) > MAX_TERMS:
        raise BadRequest("search terms longer than %d characters" % MAX_TERMS)
    if kind not in SEARCH_TYPES:
        raise BadRequest("unknown search type: %s" % kind)
    if match not in ("glob", "regexp", "exact"):
        raise BadRequest("No such match type: %r" % match)
    try:
        results = _search(terms, kind, match)
    except re.error:
        values["error"] = "Invalid regular expression"
        return "search.html.j2", values
    info_page, param = SEARCH_TYPES[kind]
    if len(results) == 1 and not req.get("start"):
        raise Redirect(url(info_page, **{param: results[0]["id"]}))
    values["pager"] = list_pager(req, results, ("name", "id"), req.get("order") or "name")
    values["info_page"], values["param"] = info_page, param
    return "search.html.j2", values


@page
def reports(req):
    return "reports.html.j2", {}


def _count_report(req, counts, what, title, link, param):
    """A report page of ``counts`` ({name: number of builds or tasks}), most first."""
    rows = [{"name": k, what: v} for k, v in counts.items()]
    pager = list_pager(req, rows, ("name", what), "-" + what)
    return "countreport.html.j2", {"title": title, "pager": pager, "what": what,
                                   "link": link, "param": param}


@page
def buildsbyuser(req):
    counts = collections.Counter(b["owner_name"] for b in call("listBuilds"))
    return _count_report(req, counts, "builds", "Builds by user", "userinfo", "userID")


@page
def tasksbyuser(req):
    counts = collections.Counter(t["owner_name"] for t in call("listTasks", {"decode": False}))
    return _count_report(req, counts, "tasks", "Tasks by user", "userinfo", "userID")


@page
def tasksbyhost(req):
    names = {h["id"]: h["name"] for h in call("listHosts")}
    counts = collections.Counter({n: 0 for n in names.values()})  # hosts with no task too
    counts.update(names[t["host_id"]] for t in call("listTasks", {"decode": False})
                  if t["host_id"] in names)
    return _count_report(req, counts, "tasks", "Tasks by host", "hostinfo", "hostID")


@page
def buildsbystatus(req):
    rows = []
    for value, name in sorted((v, k) for k, v in koji.BUILD_STATES.items()
                              if isinstance(k, str)):
        rows.append({"name": name.lower(), "state": value,
                     "builds": call("listBuilds", state=value, queryOpts={"countOnly": True})})
    return "buildsbystatus.html.j2", {"rows": rows}

