"""Every path of the compose tree, in one place.

``Paths(topdir)`` answers for the compose tree (``compose/``), the work area (``work/``) and the
logs (``logs/``). Methods never create directories unless ``create=True`` is passed, so asking for
a path has no side effect. Variant arguments are variant objects (with ``uid``, ``type`` and
``parent``) or UIDs; addons route into their parent's tree as Pungi does.
"""

import os


def _uid(variant):
    return variant if isinstance(variant, str) else variant.uid


def arch_dirname(arch):
    """Pungi spells the source arch ``source`` in compose paths."""
    return "source" if arch == "src" else arch


class Paths:
    def __init__(self, topdir):
        self.topdir = os.path.abspath(topdir)

    def _p(self, *parts, create=False, is_dir=True):
        path = os.path.join(self.topdir, *parts)
        if create:
            os.makedirs(path if is_dir else os.path.dirname(path), exist_ok=True)
        return path

    # ---- top level -------------------------------------------------------------------------
    def status_file(self):
        return self._p("STATUS", is_dir=False)

    def compose_id_file(self):
        return self._p("COMPOSE_ID", is_dir=False)

    def compose_dir(self, create=False):
        return self._p("compose", create=create)

    def metadata_dir(self, create=False):
        return self._p("compose", "metadata", create=create)

    def metadata_file(self, name, create=False):
        return self._p("compose", "metadata", name, create=create, is_dir=False)

    # ---- logs ------------------------------------------------------------------------------
    def log_dir(self, arch="global", create=True):
        return self._p("logs", arch or "global", create=create)

    def log_file(self, arch, name, create=True):
        """``logs/<arch>/<name>.<arch>.log`` (arch None means global)."""
        arch = arch or "global"
        return self._p("logs", arch, f"{name}.{arch}.log", create=create, is_dir=False)

    def global_log(self, create=True):
        return self.log_file("global", "pungi", create=create)

    def timeline_file(self, create=True):
        return self._p("logs", "global", "timeline.json", create=create, is_dir=False)

    def deliverables_file(self, create=True):
        return self._p("logs", "global", "deliverables.json", create=create, is_dir=False)

    def config_copy_dir(self, create=True):
        return self._p("logs", "global", "config-copy", create=create)

    def config_dump_file(self, create=True):
        return self.log_file("global", "config-dump", create=create)

    def traceback_file(self, detail=None, create=True):
        name = f"traceback-{detail}" if detail else "traceback"
        return self.log_file("global", name, create=create)

    def notifications_dir(self, create=True):
        return self._p("logs", "global", "notifications", create=create)

    def koji_tasks_dir(self, create=True):
        return self._p("logs", "global", "koji-tasks", create=create)

    def units_dir(self, create=True):
        """Per-unit completion records (inputs hash -> outputs), groundwork for reuse/resume."""
        return self._p("work", "global", "units", create=create)

    # ---- work ------------------------------------------------------------------------------
    def work_dir(self, arch="global", create=False):
        return self._p("work", arch or "global", create=create)

    def composeinfo_base(self, create=True):
        return self._p("work", "global", "composeinfo-base.json", create=create, is_dir=False)

    def work_variants_file(self, create=True):
        return self._p("work", "global", "variants.xml", create=create, is_dir=False)

    def comps_global(self, create=True):
        return self._p("work", "global", "comps", "comps-global.xml", create=create, is_dir=False)

    def comps(self, arch, variant=None, create=True):
        """``work/<arch>/comps/comps-<arch>.xml`` or ``comps-<V>.<arch>.xml``."""
        name = f"comps-{_uid(variant)}.{arch}.xml" if variant else f"comps-{arch}.xml"
        return self._p("work", arch, "comps", name, create=create, is_dir=False)

    def comps_repo(self, arch, variant=None, create=True):
        name = f"comps_repo_{_uid(variant)}" if variant else "comps_repo"
        return self._p("work", arch, name, create=create)

    def pkgset_repo(self, name, arch=None, create=True):
        """``work/global/repo/<name>`` or ``work/<arch>/repo/<name>``."""
        return self._p("work", arch or "global", "repo", name, create=create)

    def pkgset_package_list(self, name, arch=None, create=True):
        arch = arch or "global"
        return self._p("work", arch, "package_list", f"{arch}.{name}.conf", create=create, is_dir=False)

    def pkgset_download_dir(self, create=True):
        return self._p("work", "global", "download", create=create)

    def gather_result(self, arch, variant, create=True):
        return self._p("work", arch, "gather_result", f"{_uid(variant)}.{arch}.json", create=create, is_dir=False)

    def gather_package_list(self, arch, variant, kind, create=True):
        """``work/<arch>/package_list/<V>.<arch>.<kind>.conf`` (kind: rpm, srpm, debuginfo)."""
        return self._p("work", arch, "package_list", f"{_uid(variant)}.{arch}.{kind}.conf",
                       create=create, is_dir=False)

    def repo_package_list(self, arch, variant, kind, create=True):
        return self._p("work", arch, "repo_package_list", f"{_uid(variant)}.{arch}.{kind}.conf",
                       create=create, is_dir=False)

    def tmp_dir(self, arch="global", variant=None, create=True):
        name = f"tmp-{_uid(variant)}" if variant else "tmp"
        return self._p("work", arch or "global", name, create=create)

    def buildinstall_dir(self, arch, variant, create=False):
        return self._p("work", arch, "buildinstall", _uid(variant), create=create)

    def iso_work_dir(self, arch, isoname, create=True):
        return self._p("work", arch, "iso", isoname, create=create)

    def iso_extents_file(self, arch, variant, disc_num=1, create=False):
        """``work/<arch>/iso-extents/<V>-<disc>.json``: where each file's data lies in the
        variant.arch's image of that disc (``media.iso_extents``), for the next compose;
        without the compose id, so a re-run finds an old compose's at the same path."""
        return self._p("work", arch_dirname(arch), "iso-extents",
                       f"{_uid(variant)}-{disc_num}.json", create=create, is_dir=False)

    def extra_files_dir(self, arch, variant, create=True):
        """``work/<arch>/<V>/extra-files``: the extra files of a tree, before they are copied in."""
        return self._p("work", arch, _uid(variant), "extra-files", create=create)

    def extra_iso_extra_files_dir(self, arch, variant, create=True):
        """``work/<arch>/<V>/extra-iso-extra-files``: the top-level files of an extra ISO."""
        return self._p("work", arch, _uid(variant), "extra-iso-extra-files", create=create)

    # ---- compose tree ----------------------------------------------------------------------
    def _variant_root(self, variant):
        """(top variant UID, addon subpath or None): addons live inside their parent's tree."""
        if not isinstance(variant, str) and variant.type == "addon":
            return variant.parent.uid, ("addons", variant.id)
        return _uid(variant), None

    def os_tree(self, arch, variant, create=False):
        """Binary tree: ``compose/<V>/<arch>/os`` (addons: ``.../os/addons/<id>``); for src the
        source tree ``compose/<V>/source/tree``."""
        if arch == "src":
            return self.source_tree(variant, create=create)
        root, addon = self._variant_root(variant)
        parts = ["compose", root, arch, "os"] + (list(addon) if addon else [])
        return self._p(*parts, create=create)

    def packages_dir(self, arch, variant, create=False, hashed=None):
        """``<os tree>/Packages``; an addon's packages are directly in its tree
        (``os/addons/<id>/<letter>/``), as in Pungi."""
        if not isinstance(variant, str) and variant.type == "addon":
            return self.os_tree(arch, variant, create=create)
        path = os.path.join(self.os_tree(arch, variant, create=create), "Packages")
        if create:
            os.makedirs(path, exist_ok=True)
        return path

    def debug_packages_dir(self, arch, variant, create=False):
        """``<debug tree>/Packages``; an addon's debug packages are directly in its debug tree
        (``debug/tree/addons/<id>``), as in Pungi."""
        tree = self.debug_tree(arch, variant, create=create)
        return self._addon_or_packages(tree, variant, create)

    def source_packages_dir(self, variant, create=False):
        """``<source tree>/Packages``; an addon's source packages are directly in its source
        tree (``source/tree/addons/<id>``), as in Pungi."""
        return self._addon_or_packages(self.source_tree(variant, create=create), variant, create)

    @staticmethod
    def _addon_or_packages(tree, variant, create):
        if not isinstance(variant, str) and variant.type == "addon":
            return tree
        path = os.path.join(tree, "Packages")
        if create:
            os.makedirs(path, exist_ok=True)
        return path

    def repository(self, arch, variant, create=False):
        return self.os_tree(arch, variant, create=create)

    def debug_tree(self, arch, variant, create=False):
        root, addon = self._variant_root(variant)
        parts = ["compose", root, arch, "debug", "tree"] + (list(addon) if addon else [])
        return self._p(*parts, create=create)

    def source_tree(self, variant, create=False):
        root, addon = self._variant_root(variant)
        parts = ["compose", root, "source", "tree"] + (list(addon) if addon else [])
        return self._p(*parts, create=create)

    def tree_for(self, category, arch, variant, create=False):
        """The tree a package of ``category`` (binary, debug, source) goes to."""
        if category == "source":
            return self.source_tree(variant, create=create)
        if category == "debug":
            return self.debug_tree(arch, variant, create=create)
        return self.os_tree(arch, variant, create=create)

    def iso_dir(self, arch, variant, create=False):
        return self._p("compose", _uid(variant), arch_dirname(arch), "iso", create=create)

    def images_dir(self, arch, variant, create=False):
        return self._p("compose", _uid(variant), arch_dirname(arch), "images", create=create)

    def relative(self, path):
        """A path relative to ``compose/``, as manifests record them."""
        return os.path.relpath(path, self.compose_dir())
