"""The variants file: which variants a compose makes, for which arches, from which comps groups.

``load_variants(path)`` validates the XML against ``share/variants.dtd`` and Pungi's extra rules and
returns the top-level variants by UID; their children (optional variants, addons and layered
products) hang below them in ``.children``. Every problem found is reported at once, in one
``ConfigError`` whose messages read ``FILE:LINE: what is wrong``.
"""

import difflib
import logging
import os
from dataclasses import dataclass, field

from .errors import ConfigError
from .lazyimport import lazy_module
from .resources import share_path

# imported to parse a variants file, not when its parse comes from the cache (load_variants)
etree = lazy_module("lxml.etree", globals(), "etree")

log = logging.getLogger(__name__)

DTD_PATH = share_path("variants.dtd")

VARIANT_TYPES = ("variant", "addon", "optional", "layered-product")
#: Pungi's ordering of variants: top variants, then addons and layered products, then optionals.
TYPE_RANK = {"variant": 0, "addon": 1, "layered-product": 1, "optional": 2}
#: Elements whose text is an identifier: surrounding whitespace there is a mistake, not layout.
NO_WHITESPACE_ELEMENTS = ("arch", "environment", "group", "kojitag", "module", "name", "package")


@dataclass
class Group:
    name: str
    glob: bool = False
    default: bool | None = None
    uservisible: bool | None = None


@dataclass
class Environment:
    name: str
    display_order: int | None = None


@dataclass
class Module:
    name: str
    glob: bool = False


@dataclass(eq=False)
class Variant:
    """One variant. Identity is the object (two loads give different objects); ``uid`` names it."""

    id: str
    name: str
    type: str
    arches: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    environments: list = field(default_factory=list)
    buildinstall_packages: list = field(default_factory=list)
    modules: list | None = None
    modular_koji_tags: list | None = None
    is_empty: bool = False
    parent: "Variant | None" = None
    children: list = field(default_factory=list)
    release_name: str | None = None
    release_short: str | None = None
    release_version: str | None = None
    source_file: str | None = None
    source_line: int | None = None

    def __post_init__(self):
        self.arches = sorted(set(self.arches))
        self.groups = sorted(self.groups, key=lambda g: g.name)
        self.environments = sorted(self.environments, key=lambda e: e.name)
        self.buildinstall_packages = sorted(self.buildinstall_packages)

    @property
    def uid(self):
        return f"{self.parent.uid}-{self.id}" if self.parent else self.id

    @property
    def has_optional(self):
        return any(child.type == "optional" for child in self.children)

    @property
    def sort_key(self):
        return (TYPE_RANK[self.type], self.uid)

    def __lt__(self, other):
        return self.sort_key < other.sort_key

    def __str__(self):
        return self.uid

    def __repr__(self):
        parent = self.parent.uid if self.parent else None
        return (f"Variant(uid={self.uid!r}, type={self.type!r}, arches={self.arches!r}, "
                f"parent={parent!r}, children={[c.id for c in self.children]!r})")

    def child(self, child_id):
        for child in self.children:
            if child.id == child_id:
                return child
        raise KeyError(child_id)

    def get_variants(self, arch=None, types=None, recursive=False):
        """Children (and with ``"self"`` in ``types`` this variant) of the given arch and types.

        ``types`` may hold "self", "variant", "addon", "optional", "layered-product". A source
        arch ("src") matches every variant, as source trees exist for all of them.
        """
        types = list(types or [])
        if arch and arch != "src" and arch not in self.arches:
            return []
        result = [self] if "self" in types else []
        child_types = [t for t in types if t != "self"]
        for child in sorted(self.children):
            if child_types and child.type not in child_types:
                continue
            if arch and arch != "src" and arch not in child.arches:
                continue
            result.append(child)
            if recursive:
                result.extend(child.get_variants(arch=arch, types=child_types, recursive=True))
        return result

    def get_addons(self, arch=None):
        return self.get_variants(arch=arch, types=["addon"])

    def get_layered_products(self, arch=None):
        return self.get_variants(arch=arch, types=["layered-product"])

    def get_optional(self, arch=None):
        return self.get_variants(arch=arch, types=["optional"])

    def get_groups(self, arch=None, types=None, recursive=False):
        """Groups of this variant plus those of the children selected as in ``get_variants``."""
        result = list(self.groups)
        for child in self.get_variants(arch=arch, types=types, recursive=recursive):
            if child is self:
                continue
            for group in child.groups:
                if group not in result:
                    result.append(group)
        return result

    @property
    def all_groups(self):
        """True when an empty group list means "every group of the comps" (type variant only)."""
        return self.type == "variant" and not self.groups


def all_variants(top):
    """Every variant (top-level and nested), sorted as Pungi sorts them: type rank, then UID."""
    result = []

    def walk(variant):
        result.append(variant)
        for child in variant.children:
            walk(child)

    for variant in (top.values() if isinstance(top, dict) else top):
        walk(variant)
    return sorted(result)


def load_variants(path, tree_arches=None, tree_variants=None):
    """Read and check a variants file; return the top-level variants by UID (sorted).

    ``tree_arches`` keeps only those arches (a variant left without arches is dropped);
    ``tree_variants`` keeps only the listed UIDs (as in Pungi, children must be listed too).
    Raises ``ConfigError`` carrying every problem found, each as ``FILE:LINE: message``.

    The variants of a file read before with the same bytes, DTD, arguments and code come from
    a cache (``_cache_key``): lxml's import alone cost every compose 10-15 ms of CPU on its
    start's path, more than the parse. Only a parse without errors and without log messages
    is kept (a message is logged again every time); ``PUNGI_LIKE_CONFIG_CACHE=0``: none.
    """
    key = _cache_key(path, tree_arches, tree_variants)
    if key is not None:
        cached = _cache_load(key[0])
        if cached is not None:
            return cached
    parser = _Parser(path, tree_arches, tree_variants)
    result = parser.parse()
    if key is not None and not parser.noted:
        _cache_store(key, path, result)
    return result


def _cache_dir():
    """Where parsed variants files are kept (beside ``config.validcache``'s), or None."""
    if os.environ.get("PUNGI_LIKE_CONFIG_CACHE") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pungi-like", "variants")


def _cache_key(path, tree_arches, tree_variants):
    """(the cache key of this parse, the file's bytes), or None (no cache, no file)."""
    if _cache_dir() is None:
        return None
    import hashlib

    import lxml   # the package alone (its version), not lxml.etree

    import pungi_like

    try:
        with open(path, "rb") as fh:
            data = fh.read()
        with open(DTD_PATH, "rb") as fh:
            dtd = fh.read()
        with open(__file__.replace(".pyc", ".py"), "rb") as fh:
            code = fh.read()
    except OSError:
        return None
    h = hashlib.sha256()
    for part in (pungi_like.__version__.encode(), lxml.__version__.encode(),
                 os.fspath(path).encode(), data, dtd, code,
                 repr(sorted(tree_arches) if tree_arches else None).encode(),
                 repr(sorted(tree_variants) if tree_variants else None).encode()):
        h.update(b"%d\0" % len(part) + part)
    return h.hexdigest(), data


def _private(st):
    """Whether a cache directory's or entry's stat is this user's and writable by no one else:
    an entry is unpickled (which can run code) only from such a directory and file."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _cache_load(digest):
    import pickle

    directory = _cache_dir()
    try:
        if not _private(os.stat(directory)):
            log.debug("parsed variants cache %s not used: not private to this user", directory)
            return None
        fd = os.open(os.path.join(directory, digest + ".pickle"), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            if os.fstat(fh.fileno()).st_uid != os.geteuid():
                return None
            result = pickle.load(fh)
    except Exception:  # noqa: B902 - none, damaged or of another layout: parsed again
        return None
    if not isinstance(result, dict) or not all(isinstance(v, Variant) for v in result.values()):
        return None
    return result


def _cache_store(key, path, result):
    """Keep ``result`` under ``key`` when the file still holds the bytes the key was made
    from (it may have changed while it was parsed)."""
    import pickle

    from .fileutil import write_atomic

    digest, data = key
    try:
        with open(path, "rb") as fh:
            if fh.read() != data:
                return
        directory = _cache_dir()
        os.makedirs(directory, mode=0o700, exist_ok=True)
        write_atomic(os.path.join(directory, digest + ".pickle"),
                     pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL), fsync=False)
    except Exception as exc:  # noqa: B902 - the cache only saves time
        log.debug("parsed variants not cached: %s", exc)


class _Parser:
    def __init__(self, path, tree_arches, tree_variants):
        self.path = os.fspath(path)
        self.tree_arches = set(tree_arches) if tree_arches else None
        self.tree_variants = set(tree_variants) if tree_variants else None
        self.errors = []
        self.templates = {}
        #: a message was logged (load_variants keeps no such parse: the cache would drop it)
        self.noted = False

    def error(self, line, message):
        message = f"{self.path}:{line}: {message}"
        # a template is checked on its own and again where it is referenced: report once
        if message not in self.errors:
            self.errors.append(message)

    # ---- syntax, DTD and whitespace -------------------------------------------------------
    def _read(self):
        parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
        try:
            return etree.parse(self.path, parser)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read variants file: {exc}") from None
        except etree.XMLSyntaxError as exc:
            # the parser's own log: exc.error_log is global and holds other documents' errors
            entries = list(parser.error_log.filter_from_errors())
            for entry in entries:
                self.error(entry.line, f"XML syntax error: {entry.message}")
            if not entries:
                self.error(exc.lineno or 0, f"XML syntax error: {exc.msg}")
            raise ConfigError(self.errors) from None

    def _validate(self, tree):
        with open(DTD_PATH, "rb") as fh:
            dtd = etree.DTD(fh)
        if not dtd.validate(tree):
            for entry in dtd.error_log.filter_from_errors():
                self.error(entry.line, f"does not match variants.dtd: {entry.message}")
        for text in tree.xpath("//text()"):
            if text.is_tail or text == text.strip():
                continue
            element = text.getparent()
            if element.tag in NO_WHITESPACE_ELEMENTS:
                self.error(element.sourceline,
                           f"<{element.tag}> {text.strip()!r} has leading or trailing "
                           f"whitespace; write <{element.tag}>{text.strip()}</{element.tag}>")

    def _bool(self, node, attr, default=None):
        value = node.get(attr)
        if value is None:
            return default
        if value not in ("true", "false"):
            self.error(node.sourceline, f"{attr}={value!r}: expected true or false")
            return default
        return value == "true"

    # ---- structure ------------------------------------------------------------------------
    def parse(self):
        tree = self._read()
        self._validate(tree)
        if self.errors:
            raise ConfigError(self.errors)
        root = tree.getroot()
        for node in root.findall("ref"):
            self.error(node.sourceline, f"<ref id={node.get('id')!r}/> at the top level: refs "
                       "belong inside a variant's <variants> element")
        seen = {}
        for node in root.findall("variant"):
            vid = node.get("id")
            if vid in seen:
                self.error(node.sourceline, f"variant id {vid!r} is already defined on line "
                           f"{seen[vid]}")
                continue
            seen[vid] = node.sourceline
            vtype = node.get("type")
            if vtype in ("addon", "layered-product"):
                self.templates[vid] = node
            elif vtype == "optional":
                self.error(node.sourceline, f"optional variant {vid!r} at the top level: an "
                           "optional variant must be nested in the <variants> of its parent "
                           "(or use has_optional=\"true\" on the parent)")
        # Templates are checked even when nobody references them, so their mistakes surface.
        for vid, node in sorted(self.templates.items()):
            self._build(node, parent=None, probe=True)
        result = {}
        for node in root.findall("variant"):
            if node.get("type") != "variant" or seen.get(node.get("id")) != node.sourceline:
                continue
            variant = self._build(node, parent=None)
            if variant is None or self._excluded(variant):
                continue
            result[variant.uid] = variant
        if self.errors:
            raise ConfigError(self.errors)
        if self.tree_variants:
            known = {v.uid for v in all_variants(result)}
            for uid in sorted(self.tree_variants - known):
                self.noted = True
                log.warning("tree_variants lists %s, which %s does not define (for the selected "
                            "arches)", uid, self.path)
        return dict(sorted(result.items()))

    def _excluded(self, variant):
        if self.tree_variants and variant.uid not in self.tree_variants:
            self.noted = True
            log.info("Excluding variant %s: not in tree_variants", variant.uid)
            return True
        return False

    def _build(self, node, parent, probe=False, ref_line=None):
        """Make a Variant from ``node``; None when it is filtered away or broken.

        ``probe`` builds a top-level template only to report its own errors.
        """
        line = node.sourceline
        vid, vtype = node.get("id"), node.get("type")
        if not vid or vid != vid.strip() or any(c.isspace() for c in vid):
            self.error(line, f"variant id {vid!r} must be a non-empty word without spaces")
        arches = [a.text or "" for a in node.findall("arches/arch")]
        if not arches:
            self.error(line, f"variant {vid!r} lists no arches: add <arches><arch>x86_64</arch>"
                       "</arches>")
            return None
        if len(set(arches)) != len(arches):
            dup = sorted({a for a in arches if arches.count(a) > 1})
            self.error(line, f"variant {vid!r} lists arch {', '.join(dup)} more than once")
        variant = Variant(
            id=vid, name=node.get("name"), type=vtype, arches=arches,
            groups=[self._group(g) for g in node.findall("groups/group")],
            environments=[self._environment(e) for e in node.findall("environments/environment")],
            buildinstall_packages=[p.text for p in node.findall("buildinstallpackages/package")],
            # The DTD's default for is_empty is "false"; Pungi reads the attribute as "present
            # and non-empty", so is_empty="false" makes a variant empty there. That surprises
            # every reader of the file: here is_empty="false" means what it says, not empty.
            is_empty=bool(self._bool(node, "is_empty", False)),
            source_file=self.path, source_line=line)
        modules = node.find("modules")
        if modules is not None:
            variant.modules = sorted(
                (Module(m.text, bool(self._bool(m, "glob", False))) for m in modules.findall("module")),
                key=lambda m: m.name)
            tags = sorted(t.text for t in modules.findall("kojitag"))
            variant.modular_koji_tags = tags or None
        self._release(node, variant)
        if self.tree_arches is not None:
            variant.arches = [a for a in variant.arches if a in self.tree_arches]
            if not variant.arches:
                uid = f"{parent.uid}-{vid}" if parent else vid
                self.noted = True
                log.info("Excluding variant %s: all its arches are filtered by tree_arches", uid)
                return None
        if parent is not None:
            self._attach(variant, parent, ref_line or line)
        self._children(node, variant, probe)
        if self._bool(node, "has_optional", False) and not variant.has_optional:
            optional = Variant(id="optional", name="optional", type="optional",
                               arches=list(variant.arches), parent=variant,
                               source_file=self.path, source_line=line)
            if not self._excluded(optional):
                variant.children.append(optional)
        variant.children.sort()
        return variant

    def _attach(self, child, parent, line):
        if parent.type != "variant":
            self.error(line, f"{parent.type} {parent.uid!r} cannot have child variants; only a "
                       "variant of type 'variant' can")
        if child.id == parent.id:
            self.error(line, f"child variant id {child.id!r} equals its parent's id; the trees "
                       "would collide (os/<id>)")
        arches = sorted(set(child.arches) & set(parent.arches))
        if not arches:
            self.error(line, f"variant {parent.uid}-{child.id}: arches {child.arches} do not "
                       f"intersect with the arches of its parent {parent.uid} {parent.arches}")
        child.arches = arches or child.arches
        child.parent = parent

    def _children(self, node, variant, probe):
        container = node.findall("variants")
        if not container:
            return
        for sub in container:
            for ref in sub.findall("ref"):
                ref_id = ref.get("id")
                if variant.type != "variant":
                    self.error(ref.sourceline, f"{variant.type} {variant.id!r} cannot have "
                               "child variants; only a variant of type 'variant' can")
                    continue
                template = self.templates.get(ref_id)
                if template is None:
                    hint = self._ref_hint(node.getroottree(), ref_id)
                    self.error(ref.sourceline, f"variant {variant.uid} references non-existing "
                               f"variant {ref_id!r}{hint}")
                    continue
                if probe:
                    continue
                self._add_child(variant, self._build(template, variant, ref_line=ref.sourceline),
                                ref.sourceline)
            for child_node in sub.findall("variant"):
                if variant.type != "variant":
                    self.error(child_node.sourceline, f"{variant.type} {variant.id!r} cannot "
                               "have child variants; only a variant of type 'variant' can")
                    continue
                self._add_child(variant, self._build(child_node, variant),
                                child_node.sourceline)

    def _add_child(self, parent, child, line):
        if child is None or self._excluded(child):
            return
        if any(c.id == child.id for c in parent.children):
            self.error(line, f"variant {parent.uid} has two children with id {child.id!r}")
            return
        parent.children.append(child)

    def _ref_hint(self, tree, ref_id):
        for node in tree.getroot().findall("variant"):
            if node.get("id") == ref_id:
                return (f" (the variant on line {node.sourceline} has type "
                        f"{node.get('type')!r}; only top-level addon and layered-product "
                        "variants can be referenced)")
        names = sorted(self.templates)
        close = difflib.get_close_matches(ref_id or "", names, n=1)
        if close:
            return f"; did you mean {close[0]!r}?"
        if names:
            return f" (defined addons and layered products: {', '.join(names)})"
        return " (no top-level addon or layered-product variant is defined)"

    def _group(self, node):
        return Group(name=node.text or "", glob=bool(self._bool(node, "glob", False)),
                     default=self._bool(node, "default"),
                     uservisible=self._bool(node, "uservisible"))

    def _environment(self, node):
        order = node.get("display_order")
        if order is not None:
            try:
                order = int(order)
            except ValueError:
                self.error(node.sourceline, f"display_order={order!r} of environment "
                           f"{node.text!r}: expected an integer")
                order = None
        return Environment(name=node.text or "", display_order=order)

    def _release(self, node, variant):
        release = node.find("release")
        if variant.type == "layered-product":
            if release is None:
                self.error(node.sourceline, f"layered-product {variant.id!r} needs "
                           '<release name="..." short="..." version="..."/>')
                return
            missing = [a for a in ("name", "short", "version") if not release.get(a)]
            if missing:
                self.error(release.sourceline, f"<release> of layered-product {variant.id!r} "
                           f"lacks {', '.join(missing)}")
            variant.release_name = release.get("name")
            variant.release_short = release.get("short")
            variant.release_version = release.get("version")
        elif release is not None:
            self.error(release.sourceline, f"<release> is only meaningful in a layered-product; "
                       f"{variant.id!r} is of type {variant.type!r}")
