"""Hub policies: Koji's ``[policy]`` rules, evaluated with ``koji.policy``.

The model (Koji's, see its hub.conf documentation):

* A policy is a named rule set (``tag``, ``build_from_srpm``, ``package_list``, ``channel`` ...).
  Each line is ``test [args] [&& test ...] :: action`` (``!!`` instead of ``::`` acts when the
  tests fail; ``! test`` negates one test; ``{`` ... ``}`` nests). The first matching line's
  action is the result. The rule language and its generic tests (``all``, ``none``, ``true``,
  ``false``, ``bool``, ``match``, ``has``, ``compare``, ``target``, ``match_any``,
  ``match_all``, ``flagged``) come from ``koji.policy``; this module adds the hub's tests, which
  look up what the call's data names (``has_perm``, ``tag``, ``fromtag``, ``operation``,
  ``package``, ``user``, ``is_new_package``, ...), with Koji's names and semantics.
* The hub's defaults are Koji's (:data:`DEFAULT_POLICIES`); a ``[policy]`` section of hub.conf
  replaces a default of the same name, and may add policies. There is no default ``tag``
  policy: as in Koji, a policy that is not defined allows (``MissingPolicyOk``, on by default).
* Access policies answer ``allow`` or ``deny [reason]``. :func:`assert_policy` raises
  ``ActionNotAllowed("policy violation (NAME): REASON")``; ``force`` lets an admin through.
  ``channel`` answers ``use NAME`` / ``parent`` / ``req``; ``priority`` answers ``stay`` /
  ``set N`` / ``adjust N``; ``volume`` answers a volume name (see :mod:`.tasks` for the first
  two).
* Rule sets are parsed once when the hub starts (:func:`load_policies`), so a typo is an error
  at start-up naming the policy, not a fault at the first call.

Exported calls: ``evalPolicy(name, data)`` (anyone, as Koji), ``checkTagAccess(tag_id,
user_id=None)`` -> ``[access, override, reason]``, and the host calls ``host.checkPolicy``,
``host.assertPolicy`` and ``host.evalPolicy``.
"""

from __future__ import annotations

import fnmatch
import logging
import textwrap

import koji
import koji.policy
import koji.tasks
from koji.util import multi_fnmatch
from sqlalchemy import select

from ...errors import PungiLikeError
from ..db import schema as s
from .common import as_int, get_tag_row, get_user_row, lookup
from .context import context
from .registry import export, read_only

log = logging.getLogger("pungi_like.buildsvc.hub.policy")


class PolicyError(PungiLikeError):
    """A ``[policy]`` rule that does not parse (raised when the hub starts)."""


#: Koji 1.36's hub defaults (kojixmlrpc._default_policies), word for word.
DEFAULT_POLICIES = {
    "build_rpm": """
        all :: allow
        """,
    "build_from_srpm": """
        has_perm admin :: allow
        all :: deny Only admin can do this via default policy
        """,
    "build_from_repo_id": """
        has_perm admin :: allow
        all :: deny Only admin can do this via default policy
        """,
    "build_from_scm": """
        has_perm admin :: allow
        all :: deny Only admin can do this via default policy
        """,
    "package_list": """
        has_perm admin :: allow
        has_perm tag :: allow
        all :: deny Only admin/tag can do this via default policy
        """,
    "channel": """
        has req_channel :: req
        is_child_task :: parent
        all :: use default
        """,
    "vm": """
        has_perm admin win-admin :: allow
        all :: deny Only admin/win-admin can do this via default policy
        """,
    "cg_import": """
        all :: allow
        """,
    "volume": """
        all :: DEFAULT
        """,
    "priority": """
        all :: stay
        """,
    "draft_promotion": """
        has_perm draft-promoter :: allow
        is_build_owner :: allow
        all :: deny Only draft-promoter and build owner can do this via default policy
        """,
}


# ---------------------------------------------------------------------------------------------
# lookups the tests share (Koji's policy_get_*)


def _user_perms(user_id):
    q = (select(s.permissions.c.name)
         .select_from(s.user_perms.join(s.permissions,
                                        s.user_perms.c.perm_id == s.permissions.c.id))
         .where(s.user_perms.c.user_id == user_id, s.user_perms.c.active.is_(True)))
    return sorted(r[0] for r in context.conn.execute(q))


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
    """{id: name} of the groups the user belongs to (this hub has no group members yet)."""
    return {}


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
TESTS = koji.policy.findSimpleTests([globals(), vars(koji.policy)])


# ---------------------------------------------------------------------------------------------
# loading


def load_policies(configured=None):
    """``{name: SimpleRuleSet}``: Koji's defaults, replaced or extended by ``configured``
    (``{name: rule text}``, a hub.conf ``[policy]`` section). Raises :class:`PolicyError`
    naming the policy and the line for a rule that does not parse."""
    texts = dict(DEFAULT_POLICIES)
    texts.update(configured or {})
    rulesets = {}
    for name, text in sorted(texts.items()):
        lines = textwrap.dedent(text).splitlines()
        try:
            rulesets[name] = koji.policy.SimpleRuleSet(lines, TESTS)
        except Exception as exc:  # noqa: BLE001 - koji.policy raises bare Exception too
            bad, text = _first_bad_line(lines), str(exc)
            raise PolicyError("policy %s: %s%s" % (
                name, text, " (in line %r)" % bad if bad and bad not in text else "")) from None
    return rulesets


def _first_bad_line(lines):
    for line in lines:
        try:
            koji.policy.SimpleRuleSet([line], TESTS)
        except Exception:  # noqa: BLE001
            if line.strip() not in ("}",) and not line.rstrip().endswith("{"):
                return line.strip()
    return None


def _rulesets():
    hub = context.hub
    rules = getattr(hub, "policy", None)
    if rules is None:
        # a HubApp made before policies existed, or a bare context in tests: Koji's defaults
        rules = load_policies(getattr(getattr(hub, "config", None), "policy", None))
        if hub is not None:
            hub.policy = rules
    return rules


def _config(name, default):
    return getattr(getattr(context.hub, "config", None), name, default)


# ---------------------------------------------------------------------------------------------
# checking


def check_policy(name, data, default="deny", strict=False, force=False):
    """``(allowed, reason)`` of the access policy ``name`` for ``data`` (Koji's check_policy).

    ``strict`` raises ActionNotAllowed ("policy violation (NAME): REASON") instead of returning
    False; ``force`` lets an admin (the data's user) through, logged."""
    ruleset = _rulesets().get(name)
    if not ruleset:
        result = "allow" if _config("missing_policy_ok", True) else "deny"
        reason = "missing policy"
        lastrule = ""
    else:
        result = ruleset.apply(data)
        if result is None:
            result = default
            reason = "not covered by policy"
        else:
            parts = result.split(None, 1) + ["", ""]
            result, reason = parts[0].lower(), parts[1]
        lastrule = ruleset.last_rule()
    if result == "allow":
        return True, reason
    if result != "deny":
        reason = "error in policy"
        log.error("Invalid action in policy %s, rule: %s", name, lastrule)
    if force:
        user = policy_get_user(data)
        if user and "admin" in _user_perms(user["id"]):
            log.info("Policy %s overriden by force: %s%s", name, user["name"],
                     ": %s" % reason if reason else "")
            return True, "overriden by force"
    if not strict:
        return False, reason
    msg = "policy violation (%s)" % name
    if reason:
        msg += ": %s" % reason
    if _config("verbose_policy", False):
        msg += " [rule: %s]" % lastrule
    raise koji.ActionNotAllowed(msg)


def assert_policy(name, data, default="deny", force=False):
    """Raise ActionNotAllowed unless the access policy ``name`` allows ``data``."""
    check_policy(name, data, default=default, strict=True, force=force)


def eval_policy(name, data):
    """The action text the policy ``name`` gives for ``data`` (None when no rule matches)."""
    ruleset = _rulesets().get(name)
    if not ruleset:
        raise koji.GenericError("no such policy: %s" % name)
    return ruleset.apply(data)


def apply_policy(name, data):
    """``(action text or None, last rule)`` for the non-access policies (channel, priority)."""
    ruleset = _rulesets()[name]
    result = ruleset.apply(data)
    return result, ruleset.last_rule()


def policy_data_from_task_args(method, arglist):
    """What Koji's policies see of a task's arguments: source, target, tag, build_tag,
    scratch (Koji's policy_data_from_task_args)."""
    try:
        params = koji.tasks.parse_task_params(method, list(arglist))
    except Exception:  # noqa: BLE001 - a non-standard task or bad arguments: no data
        return {}
    if not params:
        return {}
    data = {}
    if method != "newRepo":
        for key in ("src", "spec_url", "url"):
            if key in params:
                data["source"] = params[key]
                break
    for key in ("target", "build_target", "target_info"):
        if key in params:
            target = params[key]
            if isinstance(target, dict):
                target = target.get("name")
            if target is not None:
                from .targets import getBuildTarget

                info = getBuildTarget(target) if isinstance(target, (int, str)) else None
                target = info["name"] if info else None
            data["target"] = target
            break
    for key in ("tag", "tag_id", "tag_info"):
        if key in params:
            name = _tag_name(params[key]) if isinstance(params[key], (int, str)) else None
            if name is not None:
                data["tag"] = name
            break
    if isinstance(params.get("build_tag"), (int, str)):
        name = _tag_name(params["build_tag"])
        if name is not None:
            data["build_tag"] = name
    opts = params.get("opts") or {}
    if isinstance(opts, dict) and "scratch" in opts:
        data["scratch"] = opts["scratch"]
    return data


# ---------------------------------------------------------------------------------------------
# tag access (Koji's check_tag_access: locks and tag permissions, before the tag policy)


def check_tag_access(tag_id, user_id=None):
    """``(access, override, reason)``: may the user change what is tagged in the tag?

    A locked tag, or a tag whose ``perm`` the user lacks, refuses; ``override`` says the user
    is an admin (and may force)."""
    if user_id is None:
        user_id = context.user["id"] if context.user else None
    if user_id is None:
        raise koji.GenericError("a user_id is required")
    perms = _user_perms(as_int(user_id, "user_id"))
    override = "admin" in perms
    from .tags import getTag

    tag = getTag(tag_id, strict=True)
    if tag["locked"]:
        return False, override, "tag is locked"
    if tag["perm_id"] and tag["perm"] not in perms:
        return False, override, "tag requires %s permission" % tag["perm"]
    return True, override, ""


def assert_tag_access(tag_id, user_id=None, force=False):
    access, override, reason = check_tag_access(tag_id, user_id)
    if not access and not (override and force):
        raise koji.ActionNotAllowed(reason)


# ---------------------------------------------------------------------------------------------
# exported calls


@read_only
def evalPolicy(name, data):
    """Evaluate the named policy with ``data``; returns the action text (Koji: anyone)."""
    if not isinstance(name, str):
        raise koji.ParameterError("Invalid type for name: %s" % type(name))
    if not isinstance(data, dict):
        raise koji.ParameterError("Invalid type for data: %s" % type(data))
    return eval_policy(name, data)


@read_only
def checkTagAccess(tag_id, user_id=None):
    """``[access, override, reason]`` of Koji's tag access check for the user (or caller)."""
    return list(check_tag_access(tag_id, user_id))


def _assert_host():
    from .hostcheck import verify_host

    verify_host()


@export(name="host.checkPolicy", write=False)
def host_checkPolicy(name, data, default="deny", strict=False):
    _assert_host()
    return list(check_policy(name, data, default=default, strict=strict))


@export(name="host.assertPolicy", write=False)
def host_assertPolicy(name, data, default="deny"):
    _assert_host()
    check_policy(name, data, default=default, strict=True)


@export(name="host.evalPolicy", write=False)
def host_evalPolicy(name, data):
    _assert_host()
    return eval_policy(name, data)
