"""Deciding which packages get their secondary-ABI (multilib) build into a tree.

Given a native package that is in the tree (say ``libfoo.x86_64``) and the build of the same name,
version and release for the multilib arch (``libfoo.i686``), :func:`is_multilib` says whether the
latter goes in too. The rules are those Pungi 4.3.2's gather applies (through the ``multilib``
library it uses); several methods may be combined, any one saying yes is enough:

``none``     nothing is multilib.
``all``      every package that has a multilib-arch build.
``runtime``  libraries and plugins: the multilib build ships a file ``*.so.*`` directly in
             ``/lib``, ``/lib64``, ``/usr/lib`` or ``/usr/lib64`` (not in a subdirectory), or a file
             in a known plugin directory (alsa-lib, dri, gtk-2.0 modules and immodules, krb5
             plugins, sasl2, vdpau, ``/lib*/security`` PAM modules, ``/etc/lsb-release.d``,
             ``/usr/lib*/gstreamer-*``, Qt/KDE plugins, Qt5 QML, gdk-pixbuf and gtk-2.0
             loaders/engines/printbackends/filesystems, xine plugins, oprofile ``*.so.*``, wine
             ``*.so``, sane ``libsane-*``), ``/etc/ld.so.conf.d/*.conf``, or ``libnss_*``/``libdb-*``
             in ``/lib*``; plus a short list of known runtime names (valgrind, wine, ...).
             Packages providing ``kernel`` are never runtime multilib.
``devel``    everything ``runtime`` takes, plus packages named ``*-devel`` or ``*-static``
             (``ghc-*`` and kernel-devel excluded; kernel packages count when they provide a
             ``*-devel``/``*-static`` name); a few known names are excluded (httpd-devel, ...).
``kernel``   packages providing ``kernel`` or ``kernel-devel`` (useful on ppc64/s390x).
``yaboot``   ``yaboot*`` built for ppc.

``multilib_blacklist`` names/globs are never multilib; ``multilib_whitelist`` names/globs always
are (when the build exists), whatever the methods, even with none.
"""

import fnmatch

METHODS = ("none", "all", "runtime", "devel", "kernel", "yaboot")

# The multilib library's default configuration lists (names, compared whole).
RUNTIME_WHITELIST = ("libflashsupport", "libgnat", "lmms-vst", "nspluginwrapper", "perl-libs",
                     "redhat-lsb", "syslinux-extlinux-nonlinux", "syslinux-nonlinux",
                     "syslinux-tftpboot", "valgrind", "wine", "yaboot")
RUNTIME_BLACKLIST = ("httpd", "php", "tomcat-native")
DEVEL_BLACKLIST = ("dmraid-devel", "httpd-devel", "kdeutils-devel", "mkinitrd-devel",
                   "java-1.5.0-gcj-devel", "java-1.6.0-openjdk-devel",
                   "java-1.7.0-icedtea-devel", "java-1.7.0-openjdk-devel",
                   "java-1.8.0-openjdk-devel", "php-devel")
# 64-bit builds some trees prefer even on the secondary ABI side (only for arches with "64")
PREFER_64 = ("gdb", "frysk", "systemtap", "systemtap-runtime", "ltrace", "strace")

_ROOT_LIBDIRS = ("/lib", "/lib64")
_USR_LIBDIRS = ("/usr/lib", "/usr/lib64")
_LIBDIRS = _ROOT_LIBDIRS + _USR_LIBDIRS
_PLUGIN_DIRS = {f"{base}/{sub}" for base in _USR_LIBDIRS
                for sub in ("alsa-lib", "dri", "gtk-2.0/modules", "gtk-2.0/immodules",
                            "krb5/plugins", "sasl2", "vdpau")}
_PLUGIN_DIRS |= {f"{base}/security" for base in _ROOT_LIBDIRS}
_PLUGIN_DIRS.add("/etc/lsb-release.d")
_GTK2_DIR_GLOBS = tuple(f"/usr/lib*/gtk-2.0/*/{d}" for d in
                        ("engines", "modules", "immodules", "loaders", "printbackends", "filesystems"))
_USR_DIR_GLOBS = ("/usr/lib*/qt*/plugins/*", "/usr/lib*/kde*/plugins/*", "/usr/lib*/qt5/qml/*",
                  "/usr/lib*/gdk-pixbuf-2.0/*/loaders", "/usr/lib*/xine/plugins/*")


def _match(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _provide_names(provides):
    return [p.split(" ", 1)[0] for p in provides]


def provides_kernel(provides, names=("kernel",)):
    return any(n in names for n in _provide_names(provides))


def _runtime_file(path):
    """Whether one file makes its package runtime multilib."""
    dirname, _, filename = path.rpartition("/")
    if dirname in _LIBDIRS and fnmatch.fnmatchcase(filename, "*.so.*"):
        return True
    if dirname in _PLUGIN_DIRS:
        return True
    if dirname == "/etc/ld.so.conf.d" and filename.endswith(".conf"):
        return True
    if dirname in _ROOT_LIBDIRS and filename.startswith(("libnss_", "libdb-")):
        return True
    if not dirname.startswith(_USR_LIBDIRS):
        return False
    if dirname.startswith(("/usr/lib/gtk-2.0", "/usr/lib64/gtk-2.0")):
        return _match(dirname, _GTK2_DIR_GLOBS)
    if dirname.startswith(("/usr/lib/gstreamer-", "/usr/lib64/gstreamer-")):
        return True
    if _match(dirname, _USR_DIR_GLOBS):
        return True
    if dirname in ("/usr/lib/oprofile", "/usr/lib64/oprofile") and fnmatch.fnmatchcase(filename, "*.so.*"):
        return True
    if dirname in ("/usr/lib/wine", "/usr/lib64/wine") and filename.endswith(".so"):
        return True
    if dirname in ("/usr/lib/sane", "/usr/lib64/sane") and filename.startswith("libsane-"):
        return True
    return False


def ships_library(files):
    return any(_runtime_file(f) for f in files)


def _prefers_64(name, arch, provides):
    if "64" not in (arch or ""):
        return False
    return name in PREFER_64 or (name.startswith("kernel")
                                 and provides_kernel(provides, ("kernel", "kernel-devel")))


def is_runtime(name, provides=(), files=(), arch=None):
    if name in RUNTIME_BLACKLIST:
        return False
    if name in RUNTIME_WHITELIST:
        return True
    if _prefers_64(name, arch, provides):
        return True
    if name.startswith("kernel") and provides_kernel(provides):
        return False
    return ships_library(files)


def is_devel(name, provides=(), files=(), arch=None):
    if name in DEVEL_BLACKLIST:
        return False
    if is_runtime(name, provides, files, arch):
        return True
    if name.startswith("ghc-"):
        return False
    if name.startswith("kernel"):
        for prov in _provide_names(provides):
            if prov == "kernel-devel":
                return False
            if prov.endswith(("-devel", "-static")):
                return True
    return name.endswith(("-devel", "-static"))


def is_kernel(name, provides=()):
    return provides_kernel(provides, ("kernel", "kernel-devel"))


def is_yaboot(name, arch):
    return arch == "ppc" and name.startswith("yaboot")


def method_reason(name, methods, provides=(), files=(), whitelist=(), blacklist=(), arch=None):
    """The method (or ``whitelist``) that makes ``name`` multilib, or None."""
    if _match(name, blacklist):
        return None
    if _match(name, whitelist):
        return "whitelist"
    methods = set(methods or ())
    if "all" in methods:
        return "all"
    if "devel" in methods and is_devel(name, provides, files, arch):
        return "devel"
    if "runtime" in methods and is_runtime(name, provides, files, arch):
        return "runtime"
    if "kernel" in methods and is_kernel(name, provides):
        return "kernel"
    if "yaboot" in methods and is_yaboot(name, arch):
        return "yaboot"
    return None


def is_multilib(name, methods, provides=(), files=(), whitelist=(), blacklist=(), arch=None):
    """Whether the multilib-arch build of package ``name`` belongs in the tree.

    ``provides`` and ``files`` describe the multilib-arch build (its Provides strings and file
    paths), ``arch`` its arch; ``methods`` is a list of method names from :data:`METHODS`.
    """
    return method_reason(name, methods, provides, files, whitelist, blacklist, arch) is not None
