"""Which package arches belong in a tree of a given arch."""

# tree arch -> package arches installable natively (best first), without noarch
NATIVE = {
    "x86_64": ["x86_64"],
    "i386": ["i686", "i586", "i486", "i386"],
    "i686": ["i686", "i586", "i486", "i386"],
    "aarch64": ["aarch64"],
    "armhfp": ["armv7hl", "armv7hnl"],
    "ppc64le": ["ppc64le"],
    "ppc64": ["ppc64"],
    "s390x": ["s390x"],
    "riscv64": ["riscv64"],
}

# tree arch -> arches of the secondary (multilib) ABI, best first
MULTILIB = {
    "x86_64": ["i686", "i586", "i486", "i386", "athlon"],
    "ppc64": ["ppc"],
    "s390x": ["s390"],
}

SOURCE_ARCHES = ("src", "nosrc")


def native_arches(arch):
    return list(NATIVE.get(arch, [arch]))


def multilib_arches(arch):
    return list(MULTILIB.get(arch, []))


def valid_arches(arch, multilib=False, add_noarch=True, add_src=False):
    """Package arches of an ``arch`` tree: native (+ multilib) (+ noarch) (+ src)."""
    result = native_arches(arch)
    if multilib:
        result += multilib_arches(arch)
    if add_noarch:
        result.append("noarch")
    if add_src:
        result.append("src")
    return result


def arch_rank(pkg_arch, tree_arch):
    """Lower is better: native arches first, then noarch, then multilib, then anything else."""
    native = native_arches(tree_arch)
    if pkg_arch in native:
        return native.index(pkg_arch)
    if pkg_arch == "noarch":
        return 50
    multi = multilib_arches(tree_arch)
    if pkg_arch in multi:
        return 100 + multi.index(pkg_arch)
    return 1000
