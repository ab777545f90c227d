"""External repos: createExternalRepo, addExternalRepoToTag, getTagExternalRepos, ..."""

from __future__ import annotations

import koji
from sqlalchemy import insert, select

from ..db import schema as s
from .common import (
    active_at, as_int, assert_admin, assert_perm, get_tag_row, insert_versioned, lock_rows, lock_tag,
    lookup, revoke,
)
from .context import context
from .inheritance import read_full_inheritance
from .names import verify_name_internal
from .registry import export, read_only

MERGE_MODES = ("koji", "simple", "bare")


def _repos(event=None, repo_id=None, name=None, url=None):
    cfg = s.external_repo_config
    q = (select(s.external_repo.c.id, s.external_repo.c.name, cfg.c.url)
         .select_from(cfg.join(s.external_repo, cfg.c.external_repo_id == s.external_repo.c.id))
         .where(active_at(cfg, event)).order_by(s.external_repo.c.id))
    if repo_id is not None:
        q = q.where(s.external_repo.c.id == repo_id)
    if name is not None:
        q = q.where(s.external_repo.c.name == name)
    if url is not None:
        q = q.where(cfg.c.url == url)
    return [dict(r._mapping) for r in context.conn.execute(q)]


def _get_repo(info, strict=False, event=None):
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    if isinstance(info, bool) or not isinstance(info, (int, str)):
        raise koji.ParameterError("Invalid type for repo info: %s" % type(info))
    found = _repos(event, repo_id=info) if isinstance(info, int) else _repos(event, name=info)
    if not found:
        if strict:
            raise koji.GenericError("No such repo: %s" % (info,))
        return None
    return found[0]


@read_only
def getExternalRepo(info, strict=False, event=None):
    return _get_repo(info, strict, event)


@read_only
def listExternalRepos(info=None, url=None, event=None, queryOpts=None):
    from .packages import apply_query_opts

    if info is None:
        found = _repos(event, url=url)
    else:
        r = _get_repo(info, False, event)
        found = [r] if r and (url is None or r["url"] == url) else []
    return apply_query_opts(found, queryOpts)


def _norm_url(url):
    if not isinstance(url, str) or not url:
        raise koji.ParameterError("Invalid URL: %r" % (url,))
    return url if url.endswith("/") else url + "/"


@export
def createExternalRepo(name, url):
    """Create an external repo (admin); the URL gets a trailing slash."""
    assert_admin()
    verify_name_internal(name)
    url = _norm_url(url)
    if _repos(name=name):
        raise koji.GenericError('An external repo named "%s" already exists' % name)
    row = lookup(s.external_repo, name, "external repo")
    rid = row["id"] if row else context.conn.execute(
        insert(s.external_repo).values(name=name).returning(s.external_repo.c.id)).scalar_one()
    insert_versioned(s.external_repo_config, external_repo_id=rid, url=url)
    return {"id": rid, "name": name, "url": url}


@export
def editExternalRepo(info, name=None, url=None):
    assert_admin()
    repo = _get_repo(info, strict=True)
    lock_rows(s.external_repo, repo["id"])
    if name and name != repo["name"]:
        verify_name_internal(name)
        if lookup(s.external_repo, name, "external repo"):
            raise koji.GenericError("name %s already taken by an external repo" % name)
        context.conn.execute(s.external_repo.update().where(s.external_repo.c.id == repo["id"])
                             .values(name=name))
    if url and _norm_url(url) != repo["url"]:
        revoke(s.external_repo_config, s.external_repo_config.c.external_repo_id == repo["id"])
        insert_versioned(s.external_repo_config, external_repo_id=repo["id"], url=_norm_url(url))


@export
def deleteExternalRepo(info):
    assert_admin()
    repo = _get_repo(info, strict=True)
    revoke(s.tag_external_repos, s.tag_external_repos.c.external_repo_id == repo["id"])
    revoke(s.external_repo_config, s.external_repo_config.c.external_repo_id == repo["id"])


def _tag_repos(event=None, tag_id=None, repo_id=None):
    ter, cfg = s.tag_external_repos, s.external_repo_config
    q = (select(ter.c.external_repo_id, s.external_repo.c.name.label("external_repo_name"),
                ter.c.priority, ter.c.tag_id, s.tag.c.name.label("tag_name"), cfg.c.url,
                ter.c.merge_mode, ter.c.arches)
         .select_from(ter.join(s.external_repo, ter.c.external_repo_id == s.external_repo.c.id)
                      .join(cfg, cfg.c.external_repo_id == ter.c.external_repo_id)
                      .join(s.tag, s.tag.c.id == ter.c.tag_id))
         .where(active_at(ter, event), active_at(cfg, event))
         .order_by(ter.c.priority, ter.c.tag_id))
    if tag_id is not None:
        q = q.where(ter.c.tag_id == tag_id)
    if repo_id is not None:
        q = q.where(ter.c.external_repo_id == repo_id)
    return [dict(r._mapping) for r in context.conn.execute(q)]


@export
def addExternalRepoToTag(tag_info, repo_info, priority, merge_mode="koji", arches=None):
    """Attach an external repo to a tag at ``priority`` (perm ``tag``)."""
    assert_perm("tag")
    tag = get_tag_row(tag_info, strict=True)
    lock_tag(tag["id"])
    repo = _get_repo(repo_info, strict=True)
    priority = as_int(priority, "priority")
    if merge_mode not in MERGE_MODES:
        raise koji.GenericError("No such merge mode: %s" % merge_mode)
    if arches is not None:
        arches = " ".join(str(arches).replace(",", " ").split()) or None
    for r in _tag_repos(tag_id=tag["id"]):
        if r["external_repo_id"] == repo["id"]:
            raise koji.GenericError("tag %s already associated with external repo %s"
                                    % (tag["name"], repo["name"]))
        if r["priority"] == priority:
            raise koji.GenericError("tag %s already associated with an external repo at "
                                    "priority %i" % (tag["name"], priority))
    insert_versioned(s.tag_external_repos, tag_id=tag["id"], external_repo_id=repo["id"],
                     priority=priority, merge_mode=merge_mode, arches=arches)


@export
def removeExternalRepoFromTag(tag_info, repo_info):
    assert_perm("tag")
    tag = get_tag_row(tag_info, strict=True)
    lock_tag(tag["id"])
    repo = _get_repo(repo_info, strict=True)
    ter = s.tag_external_repos
    if not revoke(ter, ter.c.tag_id == tag["id"], ter.c.external_repo_id == repo["id"]):
        raise koji.GenericError("external repo %s not associated with tag %s"
                                % (repo["name"], tag["name"]))


@export
def editTagExternalRepo(tag_info, repo_info, priority=None, merge_mode=None, arches=None):
    assert_perm("tag")
    tag = get_tag_row(tag_info, strict=True)
    lock_tag(tag["id"])
    repo = _get_repo(repo_info, strict=True)
    cur = [r for r in _tag_repos(tag_id=tag["id"], repo_id=repo["id"])]
    if not cur:
        raise koji.GenericError("external repo %s not associated with tag %s"
                                % (repo["name"], tag["name"]))
    cur = cur[0]
    removeExternalRepoFromTag(tag["id"], repo["id"])
    addExternalRepoToTag(tag["id"], repo["id"],
                         cur["priority"] if priority is None else priority,
                         merge_mode or cur["merge_mode"],
                         cur["arches"] if arches is None else (arches or None))


@read_only
def getTagExternalRepos(tag_info=None, repo_info=None, event=None):
    """External repos attached directly to a tag (or using a repo), ordered by priority."""
    tag_id = get_tag_row(tag_info, strict=True, event=event)["id"] \
        if tag_info is not None else None
    repo_id = _get_repo(repo_info, strict=True, event=event)["id"] \
        if repo_info is not None else None
    return _tag_repos(event, tag_id, repo_id)


@read_only
def getExternalRepoList(tag_info, event=None):
    """External repos of a tag and its parents in inheritance order, first occurrence wins."""
    tag_id = get_tag_row(tag_info, strict=True, event=event)["id"]
    seen = set()
    out = []
    for tid in [tag_id] + [l["parent_id"] for l in read_full_inheritance(tag_id, event)]:
        for r in _tag_repos(event, tid):
            if r["external_repo_id"] not in seen:
                seen.add(r["external_repo_id"])
                out.append(r)
    return out
