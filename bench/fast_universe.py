#!/usr/bin/env python3
"""The oracle corpus's synthetic universe without rpmbuild: same specs, RPM files written here.

    .venv/bin/python bench/fast_universe.py OUTDIR NSPECS SUBPKGS

``make-repo.sh OUTDIR NSPECS SUBPKGS`` (``../shared/oracles/pungi-4.3.2/_inputs/``) runs the
corpus's ``gen-specs.py`` and then one ``rpmbuild -ba`` per spec: about 0.43 s of CPU per spec
(21 RPMs) on this machine kind, so the 60,000-RPM universe (3,000 specs) needs ~22 minutes of
one core, and over an hour when the two cores are shared with other jobs. This tool runs the
same ``gen-specs.py`` (same specs, same comps.xml) and writes the RPMs of each spec directly:
RPM v4 files (lead, signature header with size, MD5, SHA-1 and SHA-256 digests, immutable main
header, gzip'd cpio payload) that librpm, createrepo_c and libsolv read like rpmbuild's.

What it understands is what ``gen-specs.py`` writes without extension options: the preamble
(Name, Epoch, Version, Release, Summary, License, URL, Requires, Provides, BuildArch), ``%package
-n`` sections, ``%description``, the ``%install`` script's two kinds of files (``/usr/bin/<name>``
and ``/usr/share/peer/<pkg>.txt``), ``%files`` and ``%changelog``; anything else is refused, so
a change of the generator cannot silently give another universe.  What differs from rpmbuild's
files: gzip payloads instead of zstd, no file class dictionary, optflags, cookie or payload digest
tags, a fixed build time and host (``BUILD_TIME``, ``BUILD_HOST``).  The repodata of both match
otherwise (``tests/integration/test_fast_universe.py``).

Output, as make-repo.sh: OUTDIR/comps.xml, OUTDIR/specs/, OUTDIR/repo/x86_64/os/Packages/*.rpm
and OUTDIR/repo/source/tree/Packages/*.src.rpm, each with createrepo_c repodata (gzip).
"""

import argparse
import gzip
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from calendar import timegm
from concurrent.futures import ProcessPoolExecutor

BUILD_TIME = 1700000000
BUILD_HOST = "fast-universe.example.invalid"
RPM_VERSION = "4.18.0"
BUILD_ARCH = "x86_64"
ISA = "(x86-64)"

# header data types
INT16, INT32, STRING, BIN, STRING_ARRAY, I18NSTRING = 3, 4, 6, 7, 8, 9
# dependency flags
SENSE = {"": 0, "<": 2, ">": 4, "=": 8, "<=": 10, ">=": 12}
RPMLIB = 1 << 24
RPMLIB_REQ = RPMLIB | SENSE["<="]
RPMFILE_SPECFILE = 32


class SpecError(ValueError):
    """A spec uses something this writer does not understand."""


# ---- RPM file format --------------------------------------------------------------------------

def header_blob(entries, region_tag):
    """One header structure: ``entries`` is ``[(tag, type, value)]``; an immutable region
    (``region_tag``: 62 signature, 63 main) covers every entry."""
    entries = sorted(entries, key=lambda e: e[0])
    index, data = [], bytearray()
    for tag, kind, value in entries:
        if kind == INT16:
            data += b"\0" * (-len(data) % 2)
            packed, count = struct.pack(f">{len(value)}H", *value), len(value)
        elif kind == INT32:
            data += b"\0" * (-len(data) % 4)
            packed, count = struct.pack(f">{len(value)}I", *value), len(value)
        elif kind == STRING:
            packed, count = value.encode() + b"\0", 1
        elif kind in (STRING_ARRAY, I18NSTRING):
            values = [value] if isinstance(value, str) else value
            packed, count = b"".join(v.encode() + b"\0" for v in values), len(values)
        elif kind == BIN:
            packed, count = bytes(value), len(value)
        else:
            raise ValueError(f"header type {kind}")
        index.append((tag, kind, len(data), count))
        data += packed
    il = len(index) + 1
    # the trailer follows the last entry's data directly: librpm checks that the region's
    # length is exactly its entries' data (with their alignment) plus the trailer
    trailer_offset = len(data)
    data += struct.pack(">iiii", region_tag, BIN, -il * 16, 16)
    out = bytearray(b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", il, len(data)))
    out += struct.pack(">iiii", region_tag, BIN, trailer_offset, 16)
    for tag, kind, offset, count in index:
        out += struct.pack(">iiii", tag, kind, offset, count)
    return bytes(out + data)


def cpio_newc(files, prefix):
    """A newc cpio archive of ``[(path, mode, content)]`` (paths without the leading /)."""
    out = bytearray()

    def entry(name, mode, content, ino):
        name = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, BUILD_TIME if mode else 0, len(content), 0, 0, 0, 0,
                  len(name), 0)
        out.extend(b"070701" + b"".join(b"%08x" % f for f in fields) + name)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(content)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (path, mode, content) in enumerate(files, 1):
        entry(prefix + path, mode, content, ino)
    entry("TRAILER!!!", 0, b"", 0)
    return bytes(out)


def write_rpm(path, tags, files, source):
    """Write one RPM: ``tags`` the main header's entries except the file ones, ``files``
    ``[(absolute path or bare name, mode, content, flags)]``."""
    files = sorted(files)
    dirnames, dirindexes, basenames = [], [], []
    for name, _mode, _content, _flags in files:
        directory, _, base = name.rpartition("/")
        directory = directory + "/" if name.startswith("/") else ""
        if directory not in dirnames:
            dirnames.append(directory)
        dirindexes.append(dirnames.index(directory))
        basenames.append(base)
    n = len(files)
    tags = list(tags) + [
        (1009, INT32, [sum(len(c) for _, _, c, _ in files)]),
        (1028, INT32, [len(c) for _, _, c, _ in files]),
        (1030, INT16, [m for _, m, _, _ in files]),
        (1033, INT16, [0] * n),
        (1034, INT32, [BUILD_TIME] * n),
        (1035, STRING_ARRAY, [hashlib.sha256(c).hexdigest() for _, _, c, _ in files]),
        (1036, STRING_ARRAY, [""] * n),
        (1037, INT32, [f for _, _, _, f in files]),
        (1039, STRING_ARRAY, ["root"] * n),
        (1040, STRING_ARRAY, ["root"] * n),
        (1045, INT32, [0xFFFFFFFF] * n),
        (1095, INT32, [1] * n),
        (1096, INT32, list(range(1, n + 1))),
        (1097, STRING_ARRAY, [""] * n),
        (1116, INT32, dirindexes),
        (1117, STRING_ARRAY, basenames),
        (1118, STRING_ARRAY, dirnames),
        (1124, STRING, "cpio"),
        (1125, STRING, "gzip"),
        (1126, STRING, "1"),
        (5011, INT32, [8]),
        (5062, STRING, "utf-8"),
    ]
    header = header_blob(tags, 63)
    archive = cpio_newc([(name.lstrip("/"), mode, content) for name, mode, content, _ in files],
                        "" if source else "./")
    payload = gzip.compress(archive, compresslevel=1, mtime=0)
    signature = header_blob([
        (269, STRING, hashlib.sha1(header).hexdigest()),
        (273, STRING, hashlib.sha256(header).hexdigest()),
        (1000, INT32, [len(header) + len(payload)]),
        (1004, BIN, hashlib.md5(header + payload).digest()),
        (1007, INT32, [len(archive)]),
    ], 62)
    signature += b"\0" * (-len(signature) % 8)
    nvr = f"{_tag(tags, 1000)}-{_tag(tags, 1001)}-{_tag(tags, 1002)}"
    lead = struct.pack(">4sBBhh66shh16s", b"\xed\xab\xee\xdb", 3, 0, 1 if source else 0, 1,
                       nvr.encode()[:65], 1, 5, b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(lead + signature + header + payload)
    os.replace(tmp, path)


def _tag(tags, number):
    return next(value for tag, _kind, value in tags if tag == number)


# ---- the specs of gen-specs.py ----------------------------------------------------------------

class Package:
    def __init__(self, name, arch):
        self.name, self.arch = name, arch
        self.summary = self.description = ""
        self.requires, self.provides, self.files = [], [], []


def _expand(text, spec):
    text = text.replace("%{?_isa}", ISA)
    text = text.replace("%{version}", spec["version"]).replace("%{release}", spec["release"])
    text = text.replace("%{name}", spec["name"])
    if "%" in text:
        raise SpecError(f"{spec['name']}: unknown macro in {text!r}")
    return text


def _dep(text):
    parts = text.split()
    if len(parts) == 1:
        return parts[0], 0, ""
    if len(parts) == 3 and parts[1] in SENSE:
        return parts[0], SENSE[parts[1]], parts[2]
    raise SpecError(f"dependency {text!r}")


def parse_spec(text):
    """``(spec values, [Package])`` of a gen-specs.py spec (see the module docstring)."""
    spec, packages, current, section = {}, [], None, "preamble"
    description, install = [], []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("%global "):
            continue
        if line.startswith("%package -n "):
            current = Package(line.split()[2], BUILD_ARCH)
            current.summary = ""
            packages.append(current)
            section = "package"
            continue
        if line.startswith("%description"):
            parts = line.split()
            name = parts[2] if len(parts) > 2 else spec["name"]
            current = next(p for p in packages if p.name == name)
            section, description = "description", []
            current.description_lines = description
            continue
        if line.startswith("%files"):
            parts = line.split()
            name = parts[2] if len(parts) > 2 else spec["name"]
            current = next(p for p in packages if p.name == name)
            section = "files"
            continue
        if line in ("%prep", "%build"):
            section = "build"
            continue
        if line == "%install":
            section = "install"
            continue
        if line == "%changelog":
            section = "changelog"
            spec["changelog"] = []
            continue
        if line.startswith("%"):
            raise SpecError(f"unknown section {line!r}")
        if section in ("preamble", "package"):
            if not line:
                continue
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if section == "preamble" and key in ("Name", "Version", "Release", "Epoch",
                                                  "License", "URL"):
                spec[key.lower()] = value
                if key == "Name":
                    packages.append(Package(value, BUILD_ARCH))
                continue
            target = packages[0] if section == "preamble" else current
            if key == "Summary":
                target.summary = value
            elif key == "Requires":
                target.requires.append(_dep(_expand(value, spec)))
            elif key == "Provides":
                target.provides.append(_dep(_expand(value, spec)))
            elif key == "BuildArch":
                target.arch = value
            elif key != "AutoReqProv" or value != "no":
                raise SpecError(f"{spec.get('name')}: unknown preamble line {line!r}")
        elif section == "description":
            description.append(line)
        elif section == "files":
            if line:
                if "%" in line:
                    raise SpecError(f"{spec['name']}: unknown %files line {line!r}")
                current.files.append(line)
        elif section == "install":
            install.append(line)
        elif section == "changelog":
            if line:
                spec["changelog"].append(line)
    for pkg in packages:
        pkg.description = "\n".join(getattr(pkg, "description_lines", [])).strip()
    spec["install"] = install
    return spec, packages


def file_content(spec, path):
    """What gen-specs.py's %install script puts at ``path``."""
    name, version = spec["name"], spec["version"]
    if path == f"/usr/bin/{name}":
        return 0o100755, f"#!/bin/sh\necho {name}\n".encode()
    m = re.fullmatch(r"/usr/share/peer/(.+)\.txt", path)
    if m and m.group(1).startswith(name + "-"):
        return 0o100644, f"{m.group(1)} {version}\n".encode()
    raise SpecError(f"{name}: no rule for the content of {path}")


def _changelog(spec):
    lines = spec.get("changelog", [])
    if len(lines) != 2 or not lines[0].startswith("* "):
        raise SpecError(f"{spec['name']}: unexpected changelog {lines!r}")
    words = lines[0][2:].split(" ", 4)
    when = timegm(time.strptime(" ".join(words[1:4]), "%b %d %Y")) + 12 * 3600
    return [(1080, INT32, [when]), (1081, STRING_ARRAY, [words[4]]),
            (1082, STRING_ARRAY, [lines[1]])]


def build_spec(spec_path, binary_dir, source_dir):
    """Write the RPMs of one spec; returns how many."""
    with open(spec_path, encoding="utf-8") as fh:
        text = fh.read()
    spec, packages = parse_spec(text)
    evr = f"{spec['version']}-{spec['release']}"
    epoch = [(1003, INT32, [int(spec["epoch"])])] if "epoch" in spec else []
    common = epoch + [
        (100, STRING_ARRAY, ["C"]),
        (1001, STRING, spec["version"]), (1002, STRING, spec["release"]),
        (1006, INT32, [BUILD_TIME]), (1007, STRING, BUILD_HOST),
        (1014, STRING, spec["license"]), (1016, I18NSTRING, "Unspecified"),
        (1020, STRING, spec["url"]), (1021, STRING, "linux"), (1064, STRING, RPM_VERSION),
    ] + _changelog(spec)
    full_evr = f"{spec['epoch']}:{evr}" if "epoch" in spec else evr
    srpm = f"{spec['name']}-{evr}.src.rpm"
    rpmlib = [("rpmlib(CompressedFileNames)", RPMLIB_REQ, "3.0.4-1"),
              ("rpmlib(FileDigests)", RPMLIB_REQ, "4.6.0-1")]
    count = 0
    for pkg in packages:
        provides = [(pkg.name, SENSE["="], full_evr)]
        if pkg.arch != "noarch":
            provides.append((pkg.name + ISA, SENSE["="], full_evr))
        provides += pkg.provides
        requires = sorted(pkg.requires) + rpmlib + [
            ("rpmlib(PayloadFilesHavePrefix)", RPMLIB_REQ, "4.0-1")]
        files = [(path, *file_content(spec, path), 0) for path in pkg.files]
        tags = common + [
            (1000, STRING, pkg.name), (1004, I18NSTRING, pkg.summary),
            (1005, I18NSTRING, pkg.description), (1022, STRING, pkg.arch),
            (1044, STRING, srpm),
        ] + _deps(1047, 1112, 1113, provides) + _deps(1049, 1048, 1050, requires)
        write_rpm(os.path.join(binary_dir, f"{pkg.name}-{evr}.{pkg.arch}.rpm"), tags, files,
                  source=False)
        count += 1
    main = packages[0]
    provides = [(p.name, SENSE["="], full_evr) for p in packages]
    tags = common + [
        (1000, STRING, main.name), (1004, I18NSTRING, main.summary),
        (1005, I18NSTRING, main.description), (1022, STRING, BUILD_ARCH),
        (1106, INT32, [1]),
    ] + _deps(1047, 1112, 1113, provides) + _deps(1049, 1048, 1050, rpmlib)
    write_rpm(os.path.join(source_dir, srpm), tags,
              [(os.path.basename(spec_path), 0o100644, text.encode(), RPMFILE_SPECFILE)],
              source=True)
    return count + 1


def _deps(name_tag, flags_tag, version_tag, deps):
    return [(name_tag, STRING_ARRAY, [d[0] for d in deps]),
            (flags_tag, INT32, [d[1] for d in deps]),
            (version_tag, STRING_ARRAY, [d[2] for d in deps])]


def createrepo_binary():
    """make-repo.sh's createrepo_c: the one on PATH (else the one beside this Python)."""
    found = shutil.which("createrepo_c")
    if found:
        return found
    local = os.path.join(os.path.dirname(sys.executable), "createrepo_c")
    return local if os.access(local, os.X_OK) else "createrepo_c"


def make_universe(out, nspecs, subpkgs, generator_dir, jobs=None):
    """make-repo.sh's output for ``nspecs`` x ``subpkgs`` without rpmbuild."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    subprocess.run(["/usr/bin/python3", os.path.join(generator_dir, "gen-specs.py"), "--specs",
                    str(nspecs), "--subpkgs", str(subpkgs), "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    binary = os.path.join(out, "repo", "x86_64", "os")
    source = os.path.join(out, "repo", "source", "tree")
    os.makedirs(os.path.join(binary, "Packages"))
    os.makedirs(os.path.join(source, "Packages"))
    specs_dir = os.path.join(out, "specs")
    specs = sorted(os.path.join(specs_dir, n) for n in os.listdir(specs_dir)
                   if n.endswith(".spec"))
    if [d for d in os.listdir(out) if d.startswith("specs-")]:
        raise SpecError("extension specs (specs-*/) are not supported: use make-repo.sh")
    start = time.monotonic()
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        written = sum(pool.map(build_spec, specs, [os.path.join(binary, "Packages")] * len(specs),
                               [os.path.join(source, "Packages")] * len(specs), chunksize=16))
    built = time.monotonic() - start
    subprocess.run([createrepo_binary(), "--quiet", "--general-compress-type=gz", "-g",
                    os.path.join(out, "comps.xml"), binary], check=True)
    subprocess.run([createrepo_binary(), "--quiet", "--general-compress-type=gz", source],
                   check=True)
    return written, built


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("nspecs", type=int)
    parser.add_argument("subpkgs", type=int)
    parser.add_argument("--generator-dir", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "shared", "oracles", "pungi-4.3.2", "_inputs"))
    args = parser.parse_args()
    written, seconds = make_universe(args.out, args.nspecs, args.subpkgs, args.generator_dir)
    print(f"{written} RPMs written in {seconds:.1f} s")


if __name__ == "__main__":
    main()
