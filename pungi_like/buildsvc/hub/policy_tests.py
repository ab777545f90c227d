"""The tests a hub policy rule may use (Koji's hub policy tests, by Koji's names).

Each class is one test word of the rule language (``has_perm admin :: allow``); ``TESTS`` maps
the words to the classes, with koji.policy's generic tests (``all``, ``bool``, ``match`` ...).
The ``policy_get_*`` helpers find what a test asks about in the call's data (a build, a tag,
a user id) the way Koji's do; the tests read the database through the current call's
connection. See policy.py for how rules are loaded and applied.
"""

from __future__ import annotations

import fnmatch
import logging

import koji
import koji.policy
import koji.tasks
from koji.util import multi_fnmatch
from sqlalchemy import select

from ..db import schema as s
from .common import as_int, get_tag_row, get_user_row, lookup
from .context import context, user_perm_names

log = logging.getLogger("pungi_like.buildsvc.hub.policy")

# ---------------------------------------------------------------------------------------------
# lookups the tests share (Koji's policy_get_*)


def _user_perms(user_id):
    """The user's permissions, its groups' included (Koji's ``get_user_perms``)."""
    return sorted(user_perm_names(user_id))


def policy_get_user(data):
    """The user the data names (``user_id``), else the logged-in user, else None."""
    if "user_id" in data:
        return get_user_row(as_int(data["user_id"], "user_id"))
    return context.user


def _build(data):
    from .builds import get_build_row

    return get_build_row(data["build"], strict=True)


def policy_get_pkg(data):
    """``{id, name}`` of the package the data names; id None for a package not created yet."""
    if "package" in data:
        pkg = lookup(s.package, data["package"], "package")
        if pkg is None:
            if isinstance(data["package"], str):
                return {"id": None, "name": data["package"]}
            raise koji.GenericError("No such package: %s" % data["package"])
        return pkg
    if "build" in data:
        b = _build(data)
        return {"id": b["package_id"], "name": b["name"]}
    raise koji.GenericError("policy requires package data")


def _policy_get_field(data, field):
    if field in data:
        return data[field]
    if "build" in data:
        return _build(data)[field]
    raise koji.GenericError("policy requires %s data" % field)


def policy_get_brs(data):
    """Buildroot ids of the data (``buildroots``) or of the build's RPMs and archives."""
    if "buildroots" in data:
        return set(data["buildroots"])
    if "build" in data:
        bid = _build(data)["id"]
        brs = {r[0] for r in context.conn.execute(
            select(s.rpminfo.c.buildroot_id).where(s.rpminfo.c.build_id == bid))}
        brs |= {r[0] for r in context.conn.execute(
            select(s.archiveinfo.c.buildroot_id).where(s.archiveinfo.c.build_id == bid))}
        return brs
    return set()


def policy_get_cgs(data):
    """Content generator names: this hub has none, so every buildroot gives None."""
    if "cg_list" in data:
        return set(data["cg_list"])
    return {None for _br in policy_get_brs(data)}


def _tag_name(info, event=None):
    row = get_tag_row(info, strict=False, event=event)
    return row["name"] if row else None


def policy_get_build_tags(data):
    """Names of the build tag(s): ``build_tag``/``build_tags``, the target's, or the
    buildroots' (None for a buildroot without a tag)."""
    tags = set()
    if "build_tag" in data:
        tags.add(get_tag_row(data["build_tag"], strict=True)["name"])
    elif "build_tags" in data:
        tags |= {get_tag_row(t, strict=True)["name"] for t in data["build_tags"]}
    if not tags and data.get("target"):
        from .targets import getBuildTarget

        target = getBuildTarget(data["target"])
        if target:
            tags.add(target["build_tag_name"])
    if not tags:
        for br_id in policy_get_brs(data):
            row = None
            if br_id is not None:
                row = context.conn.execute(
                    select(s.tag.c.name).select_from(
                        s.buildroot.join(s.repo, s.repo.c.id == s.buildroot.c.repo_id)
                        .join(s.tag, s.tag.c.id == s.repo.c.tag_id))
                    .where(s.buildroot.c.id == br_id)).first()
            tags.add(row[0] if row else None)
    return tags


def policy_get_build_types(data):
    if "btypes" in data:
        return set(data["btypes"])
    if "build" in data:
        bid = _build(data)["id"]
        q = (select(s.btype.c.name)
             .select_from(s.build_types.join(s.btype, s.btype.c.id == s.build_types.c.btype_id))
             .where(s.build_types.c.build_id == bid))
        return {r[0] for r in context.conn.execute(q)} or {"rpm"}
    return set()


def _user_groups(user_id):
    """{id: name} of the groups the user belongs to."""
    from .usergroups import user_groups

    return user_groups(user_id)


# ---------------------------------------------------------------------------------------------
# the hub's tests (Koji's names and behaviour)


class OperationTest(koji.policy.MatchTest):
    """``operation PATTERN...``: the operation (tag, untag, move; add, block, ...)."""
    name = "operation"
    field = "operation"


class NewPackageTest(koji.policy.BaseSimpleTest):
    """``is_new_package``: the package does not exist yet."""
    name = "is_new_package"

    def run(self, data):
        return policy_get_pkg(data)["id"] is None


class PackageTest(koji.policy.MatchTest):
    """``package PATTERN...``: the package (from ``package`` or ``build``)."""
    name = "package"
    field = "_package"

    def run(self, data):
        data[self.field] = policy_get_pkg(data)["name"]
        return super().run(data)


class VersionTest(koji.policy.MatchTest):
    name = "version"
    field = "_version"

    def run(self, data):
        data[self.field] = _policy_get_field(data, "version")
        return super().run(data)


class ReleaseTest(koji.policy.MatchTest):
    name = "release"
    field = "_release"

    def run(self, data):
        data[self.field] = _policy_get_field(data, "release")
        return super().run(data)


class VolumeTest(koji.policy.MatchTest):
    """``volume PATTERN...``: the volume named in the data, or the build's volume."""
    name = "volume"
    field = "_volume"

    def run(self, data):
        name = None
        if "volume" in data:
            row = lookup(s.volume, data["volume"], "volume")
            name = row["name"] if row else None
        elif "build" in data:
            name = _build(data)["volume_name"]
        if not name:
            return False
        data[self.field] = name
        return super().run(data)


class CGMatchAnyTest(koji.policy.BaseSimpleTest):
    """``cg_match_any PATTERN...``: any content generator of the build matches."""
    name = "cg_match_any"

    def run(self, data):
        patterns = self.str.split()[1:]
        return any(cg is not None and multi_fnmatch(cg, patterns)
                   for cg in policy_get_cgs(data))


class CGMatchAllTest(koji.policy.BaseSimpleTest):
    """``cg_match_all PATTERN...``: every content generator of the build matches."""
    name = "cg_match_all"

    def run(self, data):
        cgs = policy_get_cgs(data)
        patterns = self.str.split()[1:]
        return bool(cgs) and all(cg is not None and multi_fnmatch(cg, patterns) for cg in cgs)


class TagTest(koji.policy.MatchTest):
    """``tag PATTERN...``: the destination tag (``tag``, a name or id); false without one."""
    name = "tag"
    field = "_tagname"
    key = "tag"

    def run(self, data):
        tag = data.get(self.key)
        name = _tag_name(tag) if tag is not None else None
        if name is None:
            return False
        data[self.field] = name
        return super().run(data)


class FromTagTest(TagTest):
    """``fromtag PATTERN...``: the source tag of a move or untag (``fromtag``)."""
    name = "fromtag"
    key = "fromtag"


class HasTagTest(koji.policy.BaseSimpleTest):
    """``hastag PATTERN...``: the build is now tagged in a matching tag."""
    name = "hastag"

    def run(self, data):
        if "build" not in data:
            return False
        q = (select(s.tag.c.name)
             .select_from(s.tag_listing.join(s.tag, s.tag.c.id == s.tag_listing.c.tag_id))
             .where(s.tag_listing.c.build_id == _build(data)["id"],
                    s.tag_listing.c.active.is_(True)))
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(r[0], p) for r in context.conn.execute(q) for p in patterns)


class SkipTagTest(koji.policy.BaseSimpleTest):
    """``skip_tag``: the build task was asked not to tag (``--skip-tag``)."""
    name = "skip_tag"

    def run(self, data):
        return bool(data.get("skip_tag"))


class BuildTagTest(koji.policy.BaseSimpleTest):
    """``buildtag PATTERN...``: a build tag of the data matches."""
    name = "buildtag"

    def run(self, data):
        patterns = self.str.split()[1:]
        return any(t is not None and multi_fnmatch(t, patterns)
                   for t in policy_get_build_tags(data))


class BuildTagInheritsFromTest(koji.policy.BaseSimpleTest):
    """``buildtag_inherits_from PATTERN...``: a parent of a build tag matches."""
    name = "buildtag_inherits_from"

    def run(self, data):
        from .inheritance import read_full_inheritance

        patterns = self.str.split()[1:]
        for name in policy_get_build_tags(data):
            if name is None:
                continue
            tag_id = get_tag_row(name, strict=True)["id"]
            for link in read_full_inheritance(tag_id):
                if multi_fnmatch(_tag_name(link["parent_id"]) or "", patterns):
                    return True
        return False


class BuildTypeTest(koji.policy.BaseSimpleTest):
    """``buildtype PATTERN...``: a build type (rpm, image, ...) of the build matches."""
    name = "buildtype"

    def run(self, data):
        patterns = self.str.split()[1:]
        return any(multi_fnmatch(bt, patterns) for bt in policy_get_build_types(data))


class ImportedTest(koji.policy.BaseSimpleTest):
    """``imported``: some RPM or archive of the build has no buildroot."""
    name = "imported"

    def run(self, data):
        if not data.get("build"):
            raise koji.GenericError("policy data must contain a build")
        return None in policy_get_brs({"build": data["build"]})


class ChildTaskTest(koji.policy.BoolTest):
    """``is_child_task``: the task has a parent."""
    name = "is_child_task"
    field = "parent"


class MethodTest(koji.policy.MatchTest):
    """``method PATTERN...``: the task method."""
    name = "method"
    field = "method"


class UserTest(koji.policy.MatchTest):
    """``user PATTERN...``: the user (``user_id`` or the caller)."""
    name = "user"
    field = "_username"

    def run(self, data):
        user = policy_get_user(data)
        if not user:
            return False
        data[self.field] = user["name"]
        return super().run(data)


class VMTest(koji.policy.MatchTest):
    name = "vm_name"
    field = "vm_name"


class IsBuildOwnerTest(koji.policy.BaseSimpleTest):
    """``is_build_owner``: the user owns the build."""
    name = "is_build_owner"

    def run(self, data):
        owner_id = _build(data)["owner_id"]
        user = policy_get_user(data)
        if not user:
            return False
        return owner_id == user["id"] or owner_id in _user_groups(user["id"])


class IsDraftTest(koji.policy.BaseSimpleTest):
    """``is_draft``: the data or the build says draft."""
    name = "is_draft"

    def run(self, data):
        if "draft" in data:
            return bool(data["draft"])
        if "build" in data:
            return bool(_build(data).get("draft"))
        return False


class UserInGroupTest(koji.policy.BaseSimpleTest):
    """``user_in_group PATTERN...``: the user is in a matching group."""
    name = "user_in_group"

    def run(self, data):
        user = policy_get_user(data)
        if not user:
            return False
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(g, p) for g in _user_groups(user["id"]).values()
                   for p in patterns)


class HasPermTest(koji.policy.BaseSimpleTest):
    """``has_perm PATTERN...``: the user holds a matching permission (admin is not implied)."""
    name = "has_perm"

    def run(self, data):
        user = policy_get_user(data)
        if not user:
            return False
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(p, pat) for p in _user_perms(user["id"]) for pat in patterns)


class SourceTest(koji.policy.MatchTest):
    """``source PATTERN...``: the build source (SCM URL or SRPM path)."""
    name = "source"
    field = "_source"

    def run(self, data):
        if "source" in data:
            data[self.field] = data["source"]
        elif "build" in data:
            build = _build(data)
            if build["source"] is not None:
                data[self.field] = build["source"]
            elif build["task_id"] is None:
                return False
            else:
                params = _task_params(build["task_id"])
                src = params.get("src") or params.get("url") or params.get("spec_url")
                if src is None:
                    return False
                data[self.field] = src
        else:
            return False
        return super().run(data)


class PolicyTest(koji.policy.BaseSimpleTest):
    """``policy NAME``: the named policy answers yes/true/allow."""
    name = "policy"

    def run(self, data):
        args = self.str.split()[1:]
        key = "_policy_test_running_%d" % id(self)
        if getattr(context, key, False):
            raise koji.GenericError("encountered policy loop at %s" % self.str)
        from .policy import _rulesets

        ruleset = _rulesets().get(args[0]) if args else None
        if not ruleset:
            raise koji.GenericError("no such policy: %s" % (args[0] if args else ""))
        setattr(context, key, True)
        try:
            result = ruleset.apply(data)
        finally:
            delattr(context, key)
        return result is not None and result.lower() in ("yes", "true", "allow")


def _task_params(task_id):
    from .tasks import decode_request

    row = context.conn.execute(select(s.task.c.method, s.task.c.request).where(
        s.task.c.id == task_id)).first()
    if row is None:
        return {}
    try:
        return koji.tasks.parse_task_params(row.method, decode_request(row.request))
    except Exception:  # noqa: BLE001 - a non-standard task has no known parameters
        log.warning("cannot parse the parameters of task %s (%s)", task_id, row.method)
        return {}


#: Every test a policy line may use: koji.policy's generic ones and the hub's above.
class SidetagTest(koji.policy.MatchTest):
    """``is_sidetag``: the tag (``tag``) is a side tag (the sidetag plugin's test)."""
    name = "is_sidetag"

    def run(self, data):
        from .sidetags import is_sidetag
        from .tags import getTag

        tag = getTag(data["tag"]) if data.get("tag") is not None else None
        return bool(tag) and is_sidetag(tag)


class SidetagOwnerTest(koji.policy.MatchTest):
    """``is_sidetag_owner [tag|fromtag|both]``: the user owns the side tag(s)."""
    name = "is_sidetag_owner"

    def run(self, data):
        from .sidetags import is_sidetag_owner
        from .tags import getTag

        fields = self.str.split()[1:]
        if len(fields) > 1:
            raise koji.GenericError("Just one argument is allowed for this test.")
        if fields:
            if fields[0] not in ("tag", "fromtag", "both"):
                raise koji.GenericError("Policy test is_sidetag_owner has only "
                                        "/tag/fromtag/both options (got %s)" % fields[0])
            if fields[0] == "both":
                fields = ["tag", "fromtag"]
        else:
            fields = ["tag"]
        user = policy_get_user(data)
        for field in fields:
            if data.get(field) is None:
                return False
            tag = getTag(data[field])
            if not tag or not is_sidetag_owner(tag, user):
                return False
        return True


TESTS = koji.policy.findSimpleTests([globals(), vars(koji.policy)])
