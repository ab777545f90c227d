"""Deciding which packages get their secondary-ABI (multilib) build into a tree.

Given a native package that is in the tree (say ``libfoo.x86_64``) and the build of the same name
for the multilib arch (``libfoo.i686``), :func:`is_multilib` says whether the latter goes in too.
Methods (Pungi's names; several may be combined, any one saying yes is enough):

``none``     nothing is multilib.
``all``      every package that has a multilib-arch build.
``runtime``  shared libraries: the multilib build provides a soname (``libfoo.so.1`` — on the
             secondary ABI sonames carry no ``(64bit)`` suffix) or ships a ``*.so*`` file under
             ``/lib``, ``/usr/lib`` or their subdirectories; plus a few well-known runtime
             packages (glibc, its locale-independent parts, gconv modules, PAM/NSS modules which
             are loaded with dlopen and so have no soname Provides). ``-devel``/``-static``
             packages and kernels are never runtime multilib.
``devel``    development packages: the name ends with ``-devel`` or ``-static`` (kernel and
             kernel-devel excluded), so that 32-bit builds can link against the libraries the
             runtime method added.
``kernel``   kernel packages (``kernel``, ``kernel-*`` except debug/devel builds); useful for
             trees whose multilib ABI boots its own kernel (ppc64/ppc).

``multilib_blacklist`` names/globs are never multilib; ``multilib_whitelist`` names/globs always
are (when the build exists), whatever the methods.
"""

import fnmatch
import re

METHODS = ("none", "all", "runtime", "devel", "kernel", "yaboot")

_SONAME_RE = re.compile(r"^[^/()\s]+\.so(\.[0-9A-Za-z_.+-]+)?(\(.*\))?$")
_LIBDIR_RE = re.compile(r"^(/usr)?/lib/([^/]+/)*[^/]+\.so(\.[^/]*)?$")
RUNTIME_WHITELIST = ("glibc", "glibc-minimal-langpack", "libgcc", "libstdc++", "nss-softokn*",
                     "pam", "*-gconv-extra", "mesa-dri-drivers")
DEVEL_EXCLUDE = ("kernel-devel", "kernel-*-devel", "kernel-headers")


def _match(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def provides_soname(provides):
    """True when one of ``provides`` is a 32-bit style soname (``libfoo.so.1``, ``libfoo.so.1(V)``)."""
    for prov in provides:
        name = prov.split(" ", 1)[0]
        if "(64bit)" in name:
            continue
        if _SONAME_RE.match(name):
            return True
    return False


def ships_library(files):
    return any(_LIBDIR_RE.match(f) for f in files)


def is_devel(name):
    return (name.endswith("-devel") or name.endswith("-static")) and not _match(name, DEVEL_EXCLUDE)


def is_kernel(name):
    return (name == "kernel" or name.startswith("kernel-")) and not is_devel(name) \
        and "debug" not in name


def is_runtime(name, provides, files):
    if is_devel(name) or is_kernel(name):
        return False
    return _match(name, RUNTIME_WHITELIST) or provides_soname(provides) or ships_library(files)


def is_multilib(name, methods, provides=(), files=(), whitelist=(), blacklist=()):
    """Whether the multilib-arch build of package ``name`` belongs in the tree.

    ``provides`` and ``files`` describe the multilib-arch build (its Provides strings and file
    paths); ``methods`` is a list of method names from :data:`METHODS`.
    """
    if _match(name, blacklist):
        return False
    if _match(name, whitelist):
        return True
    methods = set(methods or ())
    if not methods or methods == {"none"}:
        return False
    if "all" in methods:
        return True
    if "runtime" in methods and is_runtime(name, provides, files):
        return True
    if "devel" in methods and is_devel(name):
        return True
    if "kernel" in methods and is_kernel(name):
        return True
    return False


def method_reason(name, methods, provides=(), files=(), whitelist=(), blacklist=()):
    """The method (or ``whitelist``) that makes ``name`` multilib, or None."""
    if _match(name, blacklist):
        return None
    if _match(name, whitelist):
        return "whitelist"
    for method in ("all", "runtime", "devel", "kernel"):
        if method in (methods or ()) and is_multilib(name, [method], provides, files):
            return method
    return None
