"""Hub policies: Koji's ``[policy]`` rules, evaluated with ``koji.policy``.

The model (Koji's, see its hub.conf documentation):

* A policy is a named rule set (``tag``, ``build_from_srpm``, ``package_list``, ``channel`` ...).
  Each line is ``test [args] [&& test ...] :: action`` (``!!`` instead of ``::`` acts when the
  tests fail; ``! test`` negates one test; ``{`` ... ``}`` nests). The first matching line's
  action is the result. The rule language and its generic tests (``all``, ``none``, ``true``,
  ``false``, ``bool``, ``match``, ``has``, ``compare``, ``target``, ``match_any``,
  ``match_all``, ``flagged``) come from ``koji.policy``; policy_tests.py adds the hub's tests,
  which look up what the call's data names (``has_perm``, ``tag``, ``fromtag``, ``operation``,
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

import logging
import textwrap

import koji
import koji.policy
import koji.tasks
from sqlalchemy import select

from ...errors import PungiLikeError
from ..db import schema as s
from .common import as_int
from .context import context
from .context import perms as session_perms
from .policy_tests import TESTS, _tag_name, _user_perms, policy_get_user
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


def policy_data_from_task_args(method, arglist, known_tags=None):
    """What Koji's policies see of a task's arguments: source, target, tag, build_tag,
    scratch (Koji's policy_data_from_task_args). ``known_tags``: ``{tag name or id: its
    name}`` of tags read in this transaction already (a newRepo task's tag: the caller has
    its row), not looked up again."""

    def tag_name(info):
        if known_tags and type(info) in (int, str) and info in known_tags:
            return known_tags[info]
        return _tag_name(info)

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
            name = tag_name(params[key]) if isinstance(params[key], (int, str)) else None
            if name is not None:
                data["tag"] = name
            break
    if isinstance(params.get("build_tag"), (int, str)):
        name = tag_name(params["build_tag"])
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
    user_id = as_int(user_id, "user_id")
    if context.user is not None and user_id == context.user["id"]:
        perms = session_perms()   # read once a call (a tag call asked assert_perm first)
    else:
        perms = _user_perms(user_id)
    override = "admin" in perms
    locked, perm_id, perm = _access_config(tag_id)
    if locked:
        return False, override, "tag is locked"
    if perm_id and perm not in perms:
        return False, override, "tag requires %s permission" % perm
    return True, override, ""


def _access_config(tag_id):
    """``(locked, perm_id, perm name)`` of the tag's current config: for a tag id one
    statement (getTag read the tag, its config twice and its extra: 4); a name, or an id
    without a current config, as getTag (its error for a missing tag)."""
    if isinstance(tag_id, int) and not isinstance(tag_id, bool):
        tc, p = s.tag_config, s.permissions
        row = context.conn.execute(
            select(tc.c.locked, tc.c.perm_id, p.c.name)
            .select_from(tc.outerjoin(p, p.c.id == tc.c.perm_id))
            .where(tc.c.tag_id == tag_id, tc.c.active.is_(True))).first()
        if row is not None:
            return row.locked, row.perm_id, row.name
    from .tags import getTag

    tag = getTag(tag_id, strict=True)
    return tag["locked"], tag["perm_id"], tag["perm"]


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
