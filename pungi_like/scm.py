"""Files from Pungi's ``scm_dict`` sources, copied into a directory.

An scm_dict names where files come from (``scm``), which repository (``repo``), which files
(``file``: a path or a list of paths) or directories (``dir``) and, for git, which ``branch``
(a branch, tag or commit; Pungi's default ``master``). Sources:

- ``file``: paths on this machine (globs; relative paths are taken relative to the config
  file's directory). ``repo`` must be empty, as Pungi requires.
- ``git``: a repository URL (a local path is enough); the commit is fetched into a temporary
  directory and the files or directories are copied out of it.
- ``rpm``: files of RPM packages: ``repo`` is one or more RPM paths (globs) or URLs; the
  caller may resolve a bare package name against the package set first. ``dir`` ending in
  ``/`` copies the directory's content, without it the directory itself.

``file`` copies each matched file under its base name into the target directory; ``dir`` copies
the content of each matched directory into it (``cp -r DIR/* TARGET``). Every function returns
the copied files as paths relative to the target directory, sorted. Errors are
:class:`~pungi_like.errors.PhaseError` naming the source and what to do.
"""

import glob
import os
import shutil
import tempfile

from . import tools
from .errors import PhaseError, ToolError

SUPPORTED = ("file", "git", "rpm")


def as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def describe(scm_dict):
    """A short human description of a source for messages and logs."""
    what = scm_dict.get("file") if "file" in scm_dict else scm_dict.get("dir")
    repo = scm_dict.get("repo")
    if isinstance(repo, list):
        repo = ",".join(os.path.basename(r) for r in repo)
    return f"{scm_dict.get('scm')}:{repo + ':' if repo else ''}{what}"


def check(scm_dict):
    """Problems of one scm_dict that can be seen before fetching anything (a list)."""
    scm = scm_dict.get("scm")
    errors = []
    if scm not in SUPPORTED:
        errors.append(f"scm {scm!r} is not supported by pungi_like (supported: "
                      f"{', '.join(SUPPORTED)})")
    if ("file" in scm_dict) == ("dir" in scm_dict):
        errors.append("give exactly one of `file` and `dir`")
    if scm == "file" and scm_dict.get("repo"):
        errors.append("scm 'file' takes no repo (write \"repo\": \"\")")
    if scm in ("git", "rpm") and not scm_dict.get("repo"):
        errors.append(f"scm {scm!r} needs a repo")
    return errors


def fetch(scm_dict, target_dir, *, base_dir=None, log_path=None):
    """Copy what ``scm_dict`` names into ``target_dir``; the copied files, relative, sorted."""
    problems = check(scm_dict)
    if problems:
        raise PhaseError(f"{describe(scm_dict)}: " + "; ".join(problems))
    scm = scm_dict["scm"]
    os.makedirs(target_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scm-", dir=os.path.dirname(
            os.path.abspath(target_dir))) as tmp:
        if scm == "file":
            return _from_file(scm_dict, target_dir, base_dir)
        if scm == "git":
            checkout = os.path.join(tmp, "checkout")
            _git_checkout(scm_dict["repo"], scm_dict.get("branch") or "master", checkout,
                          base_dir, log_path)
            return _export(scm_dict, checkout, target_dir, [checkout])
        return _from_rpms(scm_dict, tmp, target_dir, base_dir, log_path)


# ---- file ----------------------------------------------------------------------------------

def _resolve(path, base_dir):
    path = os.path.expanduser(path)
    if base_dir and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return path


def _from_file(scm_dict, target_dir, base_dir):
    copied = []
    if "file" in scm_dict:
        for pattern in as_list(scm_dict["file"]):
            matches = sorted(glob.glob(_resolve(pattern, base_dir)))
            files = [m for m in matches if os.path.isfile(m)]
            if not files:
                raise PhaseError(f"extra file {pattern} matches no file "
                                 f"(looked in {_resolve(pattern, base_dir)})")
            for path in files:
                copied.append(_copy_file(path, target_dir, os.path.basename(path)))
    else:
        for pattern in as_list(scm_dict["dir"]):
            dirs = sorted(d for d in glob.glob(_resolve(pattern, base_dir)) if os.path.isdir(d))
            if not dirs:
                raise PhaseError(f"extra dir {pattern} matches no directory "
                                 f"(looked in {_resolve(pattern, base_dir)})")
            for directory in dirs:
                copied.extend(copy_all(directory, target_dir))
    return sorted(set(copied))


def _copy_file(src, target_dir, relname):
    dest = os.path.join(target_dir, relname)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(src, dest)
    return relname


def copy_all(src, target_dir):
    """``cp -r SRC/* TARGET``: the files copied, relative to ``target_dir``; an empty ``src``
    is an error (a source that gives nothing is a mistake in the config)."""
    entries = sorted(os.listdir(src))
    if not entries:
        raise PhaseError(f"source directory {src} is empty")
    copied = []
    for top, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(top, name)
            copied.append(_copy_file(full, target_dir, os.path.relpath(full, src)))
    return copied


def _export(scm_dict, root, target_dir, allowed_roots):
    """Copy ``file``/``dir`` entries from an exported tree at ``root``."""
    copied = []
    key = "file" if "file" in scm_dict else "dir"
    for item in as_list(scm_dict[key]):
        rel = item.lstrip("/")
        matches = sorted(glob.glob(os.path.join(root, rel)))
        for match in matches:
            real = os.path.realpath(match)
            if not any(real == os.path.realpath(r) or real.startswith(os.path.realpath(r) + os.sep)
                       for r in allowed_roots):
                raise PhaseError(f"{describe(scm_dict)}: {item} leaves the repository")
        if key == "file":
            files = [m for m in matches if os.path.isfile(m)]
            if not files:
                raise PhaseError(f"{describe(scm_dict)}: no file {item} in the repository")
            copied.extend(_copy_file(m, target_dir, os.path.basename(m)) for m in files)
        else:
            dirs = [m for m in matches if os.path.isdir(m)]
            if not dirs:
                raise PhaseError(f"{describe(scm_dict)}: no directory {item} in the repository")
            for directory in dirs:
                if item.endswith("/") or scm_dict["scm"] != "rpm":
                    copied.extend(copy_all(directory, target_dir))
                else:
                    # rpm: "dir" is the directory itself, "dir/" its content (as Pungi)
                    name = os.path.basename(directory.rstrip("/"))
                    copied.extend(os.path.join(name, f) for f in
                                  copy_all(directory, os.path.join(target_dir, name)))
    return sorted(set(copied))


# ---- git -----------------------------------------------------------------------------------

def _git_checkout(repo, branch, dest, base_dir, log_path):
    """The tree of ``branch`` (branch, tag or commit) of ``repo`` at ``dest``: a shallow fetch
    of that one ref, or a full fetch when the server refuses it (a commit id)."""
    if "://" not in repo:
        repo = "file://" + os.path.abspath(_resolve(repo, base_dir))
    os.makedirs(dest)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    tools.run(["git", "init", "-q"], cwd=dest, log_path=log_path, env=env)
    try:
        tools.run(["git", "fetch", "-q", "--depth=1", repo, branch], cwd=dest,
                  log_path=log_path, env=env)
        tools.run(["git", "checkout", "-q", "FETCH_HEAD"], cwd=dest, log_path=log_path, env=env)
    except ToolError:
        try:
            tools.run(["git", "fetch", "-q", repo, "+refs/heads/*:refs/remotes/origin/*",
                       "+refs/tags/*:refs/tags/*"], cwd=dest, log_path=log_path, env=env)
            tools.run(["git", "checkout", "-q", branch], cwd=dest, log_path=log_path, env=env)
        except ToolError as exc:
            where = f" (see {log_path})" if log_path else ""
            raise PhaseError(f"git {repo}: cannot check out {branch!r}{where}: "
                             f"{str(exc).splitlines()[0]}") from None
    shutil.rmtree(os.path.join(dest, ".git"))


# ---- rpm -----------------------------------------------------------------------------------

def _from_rpms(scm_dict, tmp, target_dir, base_dir, log_path):
    rpms = []
    for pattern in as_list(scm_dict["repo"]):
        if "://" in pattern:
            rpms.append(_download(pattern, tmp))
            continue
        matches = sorted(glob.glob(_resolve(pattern, base_dir)))
        if not matches:
            raise PhaseError(f"{describe(scm_dict)}: no RPM matches {pattern}")
        rpms.extend(matches)
    copied = []
    for index, rpm in enumerate(rpms):
        root = os.path.join(tmp, f"rpm{index}")
        explode_rpm(rpm, root, log_path)
        copied.extend(_export(scm_dict, root, target_dir, [root]))
    return sorted(set(copied))


def _download(url, tmp):
    import requests

    dest = os.path.join(tmp, os.path.basename(url.split("?", 1)[0]) or "package.rpm")
    try:
        with requests.get(url, stream=True, timeout=300) as resp:
            if resp.status_code != 200:
                raise PhaseError(f"GET {url}: HTTP {resp.status_code}")
            with open(dest, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    fh.write(chunk)
    except requests.RequestException as exc:
        raise PhaseError(f"cannot download {url}: {exc}") from None
    return dest


def explode_rpm(rpm, dest, log_path=None):
    """Unpack the payload of ``rpm`` into ``dest`` (``rpm2archive`` to a tar, read by tarfile
    with its ``data`` filter: no absolute paths, no links leaving ``dest``)."""
    os.makedirs(dest, exist_ok=True)
    archive = os.path.join(dest, ".payload.tar")
    with open(archive, "wb") as out:
        import subprocess

        proc = subprocess.run(["rpm2archive", "-n", "-"], stdin=open(rpm, "rb"), stdout=out,
                              stderr=subprocess.PIPE)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"$ rpm2archive -n - < {rpm}\n{proc.stderr.decode(errors='replace')}"
                     f"# exit code {proc.returncode}\n")
    if proc.returncode != 0:
        raise PhaseError(f"cannot unpack {rpm}: rpm2archive exited with {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace').strip()}")
    import tarfile   # only here: 2-5 ms of every compose's start

    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    os.unlink(archive)
