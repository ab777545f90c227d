"""The demo package universe: a few hundred small RPMs with a real dependency graph.

Everything here is deterministic: the same inputs (kernel, busybox) give the same packages.
:func:`demo_packages` returns the package descriptions and :func:`demo_groups` the comps groups
and environments; ``build.py`` turns them into a repository.

What the universe exercises (``universe.json`` lists each category so tests can assert on it):
requires/provides chains through library sonames, file dependencies (one on a path that is in
primary.xml, one on a path only filelists.xml has), a virtual provide with two providers
(``webserver``), -devel subpackages requiring their main package's exact EVR, Fedora-style
-debuginfo/-debugsource subpackages, noarch packages, multilib libraries (x86_64 and i686),
ExclusiveArch and ExcludeArch, epochs, two versions of one package, Obsoletes, and the special
packages later phases boot: kernel, busybox, filesystem, setup, demo-base, demo-release and
demo-installer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .inputs import BUSYBOX_APPLETS, BusyboxInput, KernelInput
from .rpmbuild import Package, Subpackage

RELEASE_NAME = "Demo Linux"
RELEASE_VERSION = "1"
MULTILIB_ARCHES = ["x86_64", "i686"]

# The tiny base system's init: mount the API filesystems, report how / is mounted, power off.
_REPORT_ROOT = r"""
root_line=""
while read -r dev mnt fstype opts rest; do
    [ "$mnt" = "/" ] && root_line="$dev on / type $fstype ($opts)"
done < /proc/mounts
"""
_MOUNT_API = """export PATH=/bin:/sbin:/usr/bin:/usr/sbin
[ -e /proc/mounts ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
"""
_SAY = """say() {
    for tty in /dev/console /dev/ttyS0; do
        [ -e "$tty" ] && echo "$*" > "$tty" 2>/dev/null
    done
    true
}
"""
INIT_SCRIPT = ("#!/bin/sh\n# demo-base init: proves the system booted, then powers off.\n"
               + _MOUNT_API + _SAY + _REPORT_ROOT
               + 'say "DEMO-BOOT-OK root: $root_line"\nsync\npoweroff -f\n')
INSTALLER_SCRIPT = ("#!/bin/sh\n# demo-installer: the installer runtime's entry point.\n"
                    + _MOUNT_API + _SAY + _REPORT_ROOT
                    + 'say "DEMO-INSTALLER-OK root: $root_line"\nsync\npoweroff -f\n')
INSTALLER_HOOK = ("#!/bin/sh\n# Runtime init hook (what the boot image's init runs once / is "
                  "mounted).\nexec /usr/sbin/demo-installer \"$@\"\n")


@dataclass
class GroupSpec:
    """One comps group: package names per packagereq type; ``arch`` maps name -> arch attribute."""

    id: str
    name: str
    description: str
    mandatory: list[str] = field(default_factory=list)
    default: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    arch: dict[str, str] = field(default_factory=dict)
    is_default: bool = False
    uservisible: bool = True


@dataclass
class EnvironmentSpec:
    id: str
    name: str
    description: str
    groups: list[str]
    options: list[str] = field(default_factory=list)


# The exact EVR of the package being built, as a dependency version (epoch included if any).
_EXACT_EVR = "%{?epoch:%{epoch}:}%{version}-%{release}"


def _debug_subpackages(name: str, version: str, binaries: list[str]) -> list[Subpackage]:
    """Fedora-style ``name-debuginfo`` and ``name-debugsource`` for an arch package."""
    debuginfo = {f"/usr/lib/debug{path}.debug": f"debug data for {path}\n" for path in binaries}
    if not debuginfo:
        debuginfo = {f"/usr/lib/debug/.dwz/{name}-{version}.{{lib}}": "dwz\n"}
    return [
        Subpackage(f"{name}-debuginfo", summary=f"Debug information for package {name}",
                   requires=[f"{name}-debugsource%{{?_isa}} = {_EXACT_EVR}"],
                   files=debuginfo),
        Subpackage(f"{name}-debugsource", summary=f"Debug sources for package {name}",
                   files={f"/usr/src/debug/{name}-{version}/{name}.c":
                          f"/* source of {name} {version} */\nint main(void) {{ return 0; }}\n"}),
    ]


def _tool(name, summary, requires=(), provides=(), version="1.0", release="1", epoch=None,
          bins=None, extra_files=None, noarch=False, debug=True, **kw) -> Package:
    """An application: a script under /usr/bin and a man page; arch packages get debug subpackages."""
    bins = [f"/usr/bin/{name}"] if bins is None else list(bins)
    files = {b: f"#!/bin/sh\necho '{os.path.basename(b)} {version}'\n" for b in bins}
    files[f"/usr/share/man/man1/{name}.1"] = f".TH {name.upper()} 1\n{summary}\n"
    files.update(extra_files or {})
    pkg = Package(name=name, version=version, release=release, epoch=epoch,
                  arch="noarch" if noarch else "x86_64", requires=list(requires),
                  provides=list(provides), files=files, summary=summary, **kw)
    if debug and not noarch:
        pkg.subpackages += _debug_subpackages(name, version, bins)
    return pkg


def _library(name, soname_major, summary, requires=(), version="1.0", release="1", epoch=None,
             multilib=True) -> Package:
    """A library ``libX`` with ``libX-devel``, debuginfo and debugsource, built for x86_64 and i686.

    It ships ``{libdir}/libX.so.N`` and provides ``libX.so.N`` (``()(64bit)`` on x86_64); -devel
    requires the main package of the same arch and exact EVR, like Fedora's.
    """
    so = f"{name}.so.{soname_major}"
    lib = f"{{libdir}}/{so}"
    devel = Subpackage(
        f"{name}-devel", summary=f"Development files for {name}",
        requires=[f"{name}%{{?_isa}} = {_EXACT_EVR}"],
        provides=[f"pkgconfig({name[3:]}) = %{{version}}"],
        files={f"/usr/include/{name}.h": f"/* {name} {version} */\nint {name[3:]}_init(void);\n",
               f"{{libdir}}/{name}.so": f"INPUT({so})\n",
               f"{{libdir}}/pkgconfig/{name[3:]}.pc": f"Name: {name}\nVersion: {version}\n"})
    pkg = Package(name=name, version=version, release=release, epoch=epoch,
                  arches=list(MULTILIB_ARCHES) if multilib else ["x86_64"],
                  requires=list(requires), provides=[f"{so}{{so64}}"],
                  files={lib: f"\x7fELF fake shared object {so} {version}\n"},
                  summary=summary, subpackages=[devel])
    pkg.subpackages += _debug_subpackages(name, version, [lib])
    return pkg


def _so(name: str, major: int) -> str:
    return f"{name}.so.{major}{{so64}}"


# Words for the generated families: (group id, prefix, words, shared library they link).
_FAMILIES = [
    ("base", "", ["acl-tools", "attr-tools", "cpio-demo", "diffutils-demo", "findutils-demo",
                  "gawk-demo", "grep-demo", "gzip-demo", "less-demo", "logrotate-demo",
                  "procps-demo", "sed-demo", "tar-demo", "which-demo", "xz-demo", "zip-demo",
                  "hostname-demo", "kbd-demo"], "libdemoc"),
    ("server-tools", "srv-", ["monitor", "backup", "audit", "firewall", "dns", "ntp", "mail",
                              "proxy", "snmp", "sshd", "rsync", "cron", "quota", "raid",
                              "lvm", "iscsi", "nfs", "samba"], "libnet"),
    ("workstation-apps", "ws-", ["editor", "viewer", "player", "browser", "mailer", "terminal",
                                 "calculator", "calendar", "notes", "photos", "music",
                                 "office", "paint", "chat", "clock", "weather", "maps",
                                 "contacts"], "libgui"),
    ("development", "dev-", ["cc", "make", "debugger", "profiler", "linter", "formatter",
                             "autotools", "cmake", "vcs", "patch", "ctags", "strace"], "libelfx"),
    ("ha", "ha-", ["pacemaker", "corosync", "fence-agents", "resource-agents", "pcs",
                   "cluster-glue", "booth", "sbd"], "libcluster"),
    ("optional-extras", "extra-", ["games", "fonts-extra", "themes", "screensaver", "emacs-mode",
                                   "vim-plugins", "zsh-completions", "fish-shell", "tmux-conf",
                                   "figlet", "cowsay", "fortune"], "libdemoc"),
]
# (name, soname major, requires, version)
_LIBRARIES = [
    ("libdemoc", 6, [], "2.37"),
    ("libz1", 1, [_so("libdemoc", 6)], "1.2.13"),
    ("libssl3", 3, [_so("libdemoc", 6), _so("libz1", 1)], "3.0.9"),
    ("libnet", 2, [_so("libssl3", 3)], "1.4"),
    ("libgui", 4, [_so("libnet", 2), _so("libz1", 1)], "4.2"),
    ("libelfx", 1, [_so("libz1", 1)], "0.189"),
    ("libcluster", 5, [_so("libnet", 2)], "5.1"),
    ("libxml9", 2, [_so("libz1", 1)], "2.10.4"),
]


def special_packages(kernel: KernelInput, busybox: BusyboxInput) -> list[Package]:
    """The base system later phases boot: kernel, busybox, filesystem, setup, demo-* packages."""
    pkgs = []
    kv, kr = kernel.rpm_version
    kfiles = {f"/boot/vmlinuz-{kernel.kver}": kernel.vmlinuz,
              f"/boot/config-{kernel.kver}": os.path.join(kernel.root, "boot",
                                                          f"config-{kernel.kver}")}
    moddir = os.path.join(kernel.root, "lib", "modules", kernel.kver)
    for name in sorted(os.listdir(moddir)):
        if name.startswith("modules."):
            kfiles[f"/lib/modules/{kernel.kver}/{name}"] = os.path.join(moddir, name)
    for rel in kernel.modules:
        kfiles[f"/lib/modules/{kernel.kver}/{rel}"] = os.path.join(moddir, rel)
    pkgs.append(Package(
        name="kernel", version=kv, release=kr, exclusivearch=["x86_64"],
        provides=[f"kernel-uname-r({kernel.kver})", "installonlypkg(kernel)"],
        requires=["filesystem"],
        binary_files=kfiles,
        files={f"/lib/modules/{kernel.kver}/demo-load-order":
               "\n".join(kernel.load_order) + "\n"},
        summary=f"The Linux kernel (Debian {kernel.deb_package} {kernel.deb_version})",
        dirs=[f"/lib/modules/{kernel.kver}"]))
    bv, br = busybox.rpm_version
    links = {f"{d}/{applet}": "../bin/busybox" if d != "/bin" else "busybox"
             for d, applets in BUSYBOX_APPLETS.items() for applet in applets}
    pkgs.append(Package(
        name="busybox", version=bv, release=br, provides=["/bin/sh"], requires=["filesystem"],
        binary_files={"/bin/busybox": busybox.path}, symlinks=links,
        summary="Statically linked busybox providing /bin/sh and the base tools"))
    fs_dirs = ["/bin", "/sbin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib/modules", "/mnt",
               "/media", "/opt", "/proc", "/root", "/run", "/srv", "/sys", "/tmp", "/usr",
               "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/share",
               "/usr/share/doc", "/usr/share/man", "/usr/share/man/man1", "/usr/include",
               "/usr/src", "/var", "/var/log", "/var/tmp", "/var/lib"]
    pkgs.append(Package(name="filesystem", version="3.18", release="2", dirs=fs_dirs,
                        requires=["setup"], summary="The basic directory layout"))
    pkgs.append(Package(
        name="setup", version="2.14.3", release="1", arch="noarch",
        files={"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
               "/etc/group": "root:x:0:\n", "/etc/shells": "/bin/sh\n",
               "/etc/hosts": "127.0.0.1 localhost\n", "/etc/fstab": ""},
        summary="System configuration and setup files"))
    pkgs.append(Package(
        name="demo-release", version=RELEASE_VERSION, release="1", arch="noarch",
        provides=["system-release", f"system-release({RELEASE_VERSION})", "demo-release-identity"],
        files={"/etc/os-release": f'NAME="{RELEASE_NAME}"\nVERSION="{RELEASE_VERSION}"\nID=demo\n'
                                  f'VERSION_ID={RELEASE_VERSION}\nPRETTY_NAME="{RELEASE_NAME} '
                                  f'{RELEASE_VERSION}"\n',
               "/etc/demo-release": f"{RELEASE_NAME} release {RELEASE_VERSION}\n"},
        symlinks={"/etc/system-release": "demo-release"},
        summary=f"{RELEASE_NAME} release files"))
    pkgs.append(Package(
        name="demo-base", version="1.0", release="1",
        requires=["filesystem", "setup", "busybox", "system-release", "/bin/sh", "libdemoc"],
        files={"/sbin/init": INIT_SCRIPT, "/etc/demo-base.conf": "# demo base system\n"},
        scripts={"post": ": demo-base installed"},
        summary="The tiny base system: /sbin/init that reports the boot and powers off"))
    pkgs.append(Package(
        name="demo-installer", version="1.0", release="1",
        requires=["demo-base", "busybox", "kernel", "/bin/sh", "system-release"],
        files={"/usr/sbin/demo-installer": INSTALLER_SCRIPT,
               "/usr/libexec/demo-installer/init-hook": INSTALLER_HOOK,
               "/usr/share/demo-installer/installclass.conf": "[installclass]\nname=demo\n"},
        summary="The installer runtime (the demo's anaconda)"))
    return pkgs


def family_packages() -> list[Package]:
    """Libraries and the generated application families of every group."""
    pkgs = [_library(name, major, f"The {name} library", requires=reqs, version=ver)
            for name, major, reqs, ver in _LIBRARIES]
    for group, prefix, words, libname in _FAMILIES:
        major = next(m for n, m, _r, _v in _LIBRARIES if n == libname)
        for i, word in enumerate(words):
            name = prefix + word
            reqs = [_so(libname, major)]
            if i % 3 == 1:  # chains inside a family: every third tool needs the previous one
                reqs.append(prefix + words[i - 1])
            noarch = i % 5 == 4
            if noarch:
                reqs = [prefix + words[0]]
            pkgs.append(_tool(name, f"Demo {group} tool {word}", requires=reqs, noarch=noarch,
                              version=f"{1 + i % 4}.{i % 7}", group_hint=group))
    return pkgs


def scenario_packages() -> list[Package]:
    """Packages made for one dependency scenario each (see the module docstring)."""
    pkgs = []
    # Virtual provide with two providers: solvers choose one ("greedy" picks per policy).
    for name, ver in (("demo-httpd", "2.4.57"), ("demo-lighttpd", "1.4.71")):
        pkgs.append(_tool(name, f"{name} web server", version=ver,
                          requires=[_so("libssl3", 3), "/bin/sh"],
                          provides=["webserver"], bins=[f"/usr/sbin/{name[5:]}"],
                          extra_files={f"/etc/{name}/{name}.conf": "listen 80\n"}))
    pkgs.append(_tool("demo-webapp", "A web application needing some web server", noarch=True,
                      requires=["webserver", "demo-python"]))
    # File dependencies: /usr/bin/demo-python is in primary.xml; /usr/share/demo-data/... is not.
    pkgs.append(_tool("demo-python", "Demo interpreter", version="3.11.4",
                      requires=[_so("libdemoc", 6), _so("libz1", 1)],
                      provides=["python3-demo = 3.11.4"]))
    pkgs.append(_tool("demo-scripts", "Scripts run by the demo interpreter", noarch=True,
                      requires=["/usr/bin/demo-python"]))
    pkgs.append(Package(name="demo-data", version="2023.1", arch="noarch",
                        files={"/usr/share/demo-data/dataset.db": "id,value\n1,42\n"},
                        summary="Data files used by demo-dataviewer"))
    pkgs.append(_tool("demo-dataviewer", "Views data from a path only filelists.xml knows",
                      requires=["/usr/share/demo-data/dataset.db", _so("libgui", 4)]))
    # Epochs, and requirements that name an epoch.
    pkgs.append(_tool("demo-perl", "Demo perl with an epoch", version="5.36.0", epoch=4,
                      requires=[_so("libdemoc", 6)], provides=["perl-interpreter-demo"]))
    pkgs.append(_tool("demo-perl-tools", "Needs demo-perl >= 4:5.30", noarch=True,
                      requires=["demo-perl >= 4:5.30"]))
    pkgs.append(_tool("demo-timezone", "Time zone data with epoch 1", noarch=True, epoch=1,
                      version="2023c"))
    # Two versions of one package: the newer one must win a "latest" selection.
    for ver, rel in (("2.0", "1"), ("2.1", "2")):
        pkgs.append(_tool("demo-utils", f"Utilities {ver}", version=ver, release=rel,
                          requires=[_so("libdemoc", 6)]))
    pkgs.append(_tool("demo-utils-extra", "Needs demo-utils >= 2.1", noarch=True,
                      requires=["demo-utils >= 2.1"]))
    # Obsoletes and Conflicts.
    pkgs.append(_tool("demo-newtool", "Replaces demo-oldtool", version="3.0",
                      obsoletes=["demo-oldtool < 3.0"], provides=["demo-oldtool = 3.0"],
                      requires=[_so("libdemoc", 6)]))
    pkgs.append(_tool("demo-mta-a", "Mail transport agent A", provides=["MTA"],
                      conflicts=["demo-mta-b"], requires=[_so("libnet", 2)]))
    pkgs.append(_tool("demo-mta-b", "Mail transport agent B", provides=["MTA"],
                      conflicts=["demo-mta-a"], requires=[_so("libnet", 2)]))
    # Arch restrictions: x86_64-only tool, and a noarch package excluded on x86_64.
    pkgs.append(_tool("demo-firmware-tool", "Only built for x86_64", exclusivearch=["x86_64"],
                      requires=[_so("libdemoc", 6)]))
    pkgs.append(_tool("demo-s390-docs", "Documentation not shipped on x86_64", noarch=True,
                      excludearch=["x86_64"]))
    # Multilib runtime consumers: 32-bit compat package needing the i686 libraries.
    pkgs.append(Package(name="demo-compat32", version="1.0", arches=["i686"],
                        requires=["libdemoc.so.6", "libz1.so.1"],
                        files={"/usr/lib/demo-compat32/run32": "#!/bin/sh\n"},
                        summary="32-bit compatibility payload (i686 only)"))
    pkgs.append(Package(name="demo-docs", version="1.0", arch="noarch", group_hint="docs",
                        files={f"/usr/share/doc/demo-docs/chapter{i}.txt": f"Chapter {i}\n"
                               for i in range(1, 6)},
                        subpackages=[Subpackage("demo-docs-html", arch="noarch",
                                                requires=["demo-docs = %{version}-%{release}"],
                                                files={"/usr/share/doc/demo-docs/index.html":
                                                       "<html></html>\n"})],
                        summary="Demo documentation"))
    return pkgs


def demo_packages(kernel: KernelInput, busybox: BusyboxInput) -> list[Package]:
    """Every package of the demo universe, sorted by name and EVR."""
    pkgs = special_packages(kernel, busybox) + family_packages() + scenario_packages()
    return sorted(pkgs, key=lambda p: (p.name, p.evr))


def demo_groups() -> tuple[list[GroupSpec], list[EnvironmentSpec]]:
    """The comps groups and environments (langpacks-free)."""
    fam = {group: [prefix + w for w in words] for group, prefix, words, _lib in _FAMILIES}
    groups = [
        GroupSpec("core", "Core", "Smallest possible installation",
                  mandatory=["filesystem", "setup", "busybox", "demo-base", "demo-release"],
                  default=["kernel", "libdemoc"], optional=["demo-timezone"],
                  arch={"kernel": "x86_64"}, is_default=True),
        GroupSpec("base", "Base", "Basic tools",
                  mandatory=fam["base"][:8], default=fam["base"][8:14] + ["demo-utils"],
                  optional=fam["base"][14:] + ["demo-utils-extra", "demo-docs"]),
        GroupSpec("server-tools", "Server Tools", "Tools for servers",
                  mandatory=fam["server-tools"][:6],
                  default=fam["server-tools"][6:14] + ["demo-mta-a", "demo-firmware-tool"],
                  optional=fam["server-tools"][14:] + ["demo-mta-b", "demo-newtool"],
                  arch={"demo-firmware-tool": "x86_64"}),
        GroupSpec("web-server", "Web Server", "Serve web pages",
                  mandatory=["demo-webapp"], default=["demo-httpd", "demo-python"],
                  optional=["demo-lighttpd", "demo-scripts"]),
        GroupSpec("workstation-apps", "Workstation Applications", "Desktop applications",
                  mandatory=fam["workstation-apps"][:6],
                  default=fam["workstation-apps"][6:14] + ["demo-dataviewer"],
                  optional=fam["workstation-apps"][14:] + ["demo-docs-html"]),
        GroupSpec("development", "Development Tools", "Compilers, libraries and headers",
                  mandatory=fam["development"][:4] + ["libdemoc-devel"],
                  default=fam["development"][4:] + [f"{n}-devel" for n, *_ in _LIBRARIES[1:]],
                  optional=["demo-perl", "demo-perl-tools", "demo-compat32", "demo-s390-docs"],
                  arch={"demo-compat32": "x86_64", "dev-strace": "x86_64", "demo-s390-docs": "s390x"}),
        GroupSpec("ha", "High Availability", "Cluster infrastructure",
                  mandatory=fam["ha"][:4], default=fam["ha"][4:], optional=["libcluster-devel"]),
        GroupSpec("optional-extras", "Optional Extras", "Nice to have",
                  mandatory=[], default=fam["optional-extras"][:6],
                  optional=fam["optional-extras"][6:], uservisible=True),
    ]
    envs = [
        EnvironmentSpec("server-environment", "Server", "A server installation",
                        groups=["core", "base", "server-tools"],
                        options=["web-server", "development", "ha"]),
        EnvironmentSpec("workstation-environment", "Workstation", "A desktop installation",
                        groups=["core", "base", "workstation-apps"],
                        options=["development", "optional-extras"]),
    ]
    return groups, envs
