"""What a task handler gets to work with: :class:`TaskContext`.

One context exists per running task, in the child process the builder daemon forked for it. It
wraps the host's koji session (a subsession of the daemon's), the task's fresh work directory,
the hub's top directory (local when the builder shares the hub's filesystem, else read through
``/kojifiles``), uploads of task output, subtasks and waiting, and the task log.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import struct
import threading
import time
import urllib.parse
import urllib.request

import koji
import koji.util
import koji.xmlrpcplus

from ..pathinfo import PathInfo, component, safe_join


class TaskContext:
    """Everything a handler needs; see doc/builder-tasks.md ("Task handlers")."""

    #: Seconds between ``host.taskWait`` polls while waiting for subtasks, in a process that
    #: the daemon cannot wake (no SIGUSR2 handler: not forked by the TaskManager).
    wait_poll = 0.5
    #: In a task process of the daemon: the longest wait for its wake-up (SIGUSR2, sent when
    #: ``host.getHostTasks`` alerts that an awaited child finished) before polling anyway.
    wake_timeout = 2.0
    #: set in a task process of our daemon (daemon.TaskManager.runTask): the daemon's pid,
    #: sent SIGUSR1 after a subtask is created so it polls for it at once
    daemon_pid = None
    #: the builder's own allowed_scms rules (builder.conf); None: only the hub's check applies
    allowed_scms = None
    #: set with daemon_pid: a mapping shared with the daemon, where the time a subtask's
    #: creation was answered is written before the daemon is woken (daemon._seen_subtask)
    wake_stamp = None

    #: in a task process of our daemon: ``hand_tasks(tasks, asked)`` hands the daemon the
    #: tasks a ``host.getTasks`` asked at monotonic time ``asked`` answered (the subtasks
    #: just made, assigned to this host in the same request), so that it takes them without
    #: a cycle of its own (daemon.TaskManager.take_handed)
    hand_tasks = None

    #: in a task process of our daemon: ``wake_parent(parent task id)`` wakes the process of
    #: the parent task waiting for this one (daemon.wake_parent_task) once, and is then None
    wake_parent = None

    def __init__(self, session, task, *, workdir_root, topdir=None, topurl=None,
                 serverca=None, log_level=logging.INFO):
        self.session = session
        self.task = task
        self.task_id = task["id"]
        self.method = task["method"]
        self.arch = task.get("arch") or "noarch"
        self.parent = task.get("parent")
        self.priority = task.get("priority")
        self.workdir_root = os.path.abspath(workdir_root)
        self.workdir = os.path.join(self.workdir_root, "tasks",
                                    str(self.task_id % 10000), str(self.task_id))
        if os.path.exists(self.workdir):
            shutil.rmtree(self.workdir)
        os.makedirs(self.workdir)
        self.topdir = os.path.abspath(topdir) if topdir and os.path.isdir(topdir) else None
        self.pathinfo = PathInfo(self.topdir) if self.topdir else None
        self.topurl = topurl.rstrip("/") if topurl else None
        self.serverca = serverca
        self.upload_path = koji.pathinfo.taskrelpath(self.task_id)
        self._label_seq = 0
        self._uploaded = {}   # name -> (size, mtime_ns) of the file upload_many sent
        self.log_path = os.path.join(self.workdir, "task.log")
        self.log = logging.getLogger("pungi_like.task.%d" % self.task_id)
        self.log.propagate = False
        self.log.setLevel(log_level)
        fh = logging.FileHandler(self.log_path)
        fh.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
        self.log.addHandler(fh)
        self._log_handler = fh

    def cache_dir(self, name):
        """``<builder work directory>/cache/<name>``: kept across tasks (not made here)."""
        return os.path.join(self.workdir_root, "cache", component(name, "cache name"))

    # --- output ---------------------------------------------------------------------------

    def upload(self, path, name=None):
        """Upload a local file into the task's output directory; returns its name there.

        A file of one chunk (the fast-upload block size) is one ``rawUpload`` written over any
        older file: its answer gives the size and adler32 the hub wrote, which is all the
        ``checkUpload`` after it (koji's fastUpload) would tell. Larger files, a retried call
        and sessions without fast upload go through koji's ``uploadWrapper``."""
        name = name or os.path.basename(path)
        session = self.session
        opts = getattr(session, "opts", None) or {}
        if opts.get("use_fast_upload") and not session.multicall and \
                os.path.getsize(path) <= opts.get("upload_blocksize", 1048576):
            with open(path, "rb") as f:
                data = f.read()
            if len(data) <= opts.get("upload_blocksize", 1048576):
                result = session.rawUpload(data, 0, self.upload_path, name, overwrite=True)
                if session.retries <= 1:   # no call retried: no earlier chunk written
                    digest = koji.util.adler32_constructor(data).hexdigest()
                    if result.get("size") != len(data) or result.get("offset") != 0 or \
                            result.get("hexdigest") != digest:
                        raise koji.GenericError("upload of %s failed: the hub wrote %r"
                                                % (name, result))
                    return name
        session.uploadWrapper(path, self.upload_path, name=name, overwrite=True)
        return name

    #: at most this many bytes of files go in one upload_many call (base64 in the XML)
    batch_upload_max = 4 * 1024 * 1024

    def upload_many(self, files, with_logs=False, then=None):
        """Upload ``[(path, name)]`` into the task's output directory; returns the names, or
        with ``then`` the result of the call it adds.

        Small files go together in one multicall: the XML-RPC ``uploadFile`` of each whole
        file (Koji's legacy upload, base64) and a ``checkUpload`` of each whose size and
        adler32 must be the local file's; one round trip for a repo's repodata and log instead
        of two per file. Files that do not fit in :attr:`batch_upload_max` go one by one.
        ``with_logs``: the logs :meth:`upload_logs` sends go along (as they are now; the task's
        end sends only those written to since). ``then(m)``: adds one more call to that
        multicall, after the uploads (newRepo's repoDone, with its log)."""
        if with_logs:
            files = list(files) + self._log_files()
        batch, size, names = [], 0, []
        for path, name in files:
            name = name or os.path.basename(path)
            names.append(name)
            stamp = _stamp(path)
            if size + os.path.getsize(path) > self.batch_upload_max:
                self.upload(path, name)
            else:
                with open(path, "rb") as f:
                    data = f.read()
                batch.append((path, name, data))
                size += len(data)
            self._uploaded[name] = stamp
        if len(batch) == 1 and then is None:
            self.upload(batch[0][0], batch[0][1])
        elif batch or then is not None:
            checks = []
            with self.session.multicall(strict=True) as m:
                for _path, name, data in batch:
                    digest = koji.util.adler32_constructor(data).hexdigest()
                    m.uploadFile(self.upload_path, name, len(data), ("adler32", digest), 0,
                                 base64.b64encode(data).decode("ascii"))
                    checks.append((name, len(data), digest,
                                   m.checkUpload(self.upload_path, name, verify="adler32")))
                after = then(m) if then is not None else None
            for name, length, digest, check in checks:
                info = check.result or {}
                if int(info.get("size", -1)) != length or info.get("hexdigest") != digest:
                    raise koji.GenericError("upload of %s failed: the hub holds %r"
                                            % (name, info))
            if after is not None:
                return after.result
        return names

    #: in a task process of our daemon: the engine's ``closeTask`` calls that the handler's
    #: last upload has made already (:meth:`upload_and_close`), as ``{(method, args,
    #: kwargs): answer}`` for daemon.TaskManager.runTask to answer without the hub
    closed = {}

    def upload_and_close(self, files, result):
        """A handler's last call, returning ``result`` (what the handler returns): upload
        ``[(path, name)]`` and the logs (:meth:`upload_many`) and, in a task process of our
        daemon, close the task with ``result`` in the same request. kojid's engine closes a
        task with a call of its own once its handler returned: one more round trip before a
        parent waiting for the task learns of it. Our hub does not run a multicall's
        ``host.closeTask`` after a failed upload entry (hub/dispatch.py), so a failed upload
        leaves the task open and raises here as in :meth:`upload_many`; the engine then fails
        the task. Nothing may be logged or uploaded after it."""
        if not self.daemon_pid:
            self.upload_many(files, with_logs=True)
            return result
        response = koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        self.upload_many(files, with_logs=True,
                         then=lambda m: m.host.closeTask(self.task_id, response))
        TaskContext.closed[("host.closeTask", (self.task_id, response), ())] = None
        # the task is closed: a parent task waiting in a process of this daemon looks at it
        # now, not once this process has cleaned up (the work directory removed, the engine's
        # end; daemon.TaskManager.runTask wakes it then when this did not)
        if TaskContext.wake_parent is not None and self.task.get("parent") is not None:
            TaskContext.wake_parent(self.task["parent"])
        return result

    def upload_logs(self):
        """Upload the task log and every ``*.log`` directly under ``workdir/logs`` (those
        already uploaded by the handler and unchanged since are not sent again)."""
        files = [(p, n) for p, n in self._log_files() if self._uploaded.get(n) != _stamp(p)]
        if files:
            self.upload_many(files)

    def _log_files(self):
        """[(path, name)] of the task log and every ``*.log`` directly under ``workdir/logs``."""
        self._log_handler.flush()
        files = []
        if os.path.exists(self.log_path):
            files.append((self.log_path, "task.log"))
        logdir = os.path.join(self.workdir, "logs")
        if os.path.isdir(logdir):
            for n in sorted(os.listdir(logdir)):
                p = os.path.join(logdir, n)
                if os.path.isfile(p) and n.endswith(".log"):
                    files.append((p, n))
        return files

    def set_weight(self, weight):
        """Report a new weight for this task (``host.setTaskWeight``)."""
        self.session.host.setTaskWeight(self.task_id, float(weight))

    # --- subtasks ---------------------------------------------------------------------------

    def subtask(self, method, params, label=None, arch=None, channel=None, priority=None,
                **kwargs):
        """Create a child task ``method(*params, **kwargs)``; returns its id.

        Children get a label (an automatic ``sub<n>`` when none is given), which makes the call
        idempotent: a task freed and run again gets the same children back, not new ones.
        """
        task_id = self.session.host.subtask(**self._subtask_call(
            method, params, label, arch, channel, priority, kwargs))
        self._wake_daemon()
        return task_id

    def _subtask_call(self, method, params, label, arch, channel, priority, kwargs):
        """The keyword arguments of ``host.subtask`` for :meth:`subtask`."""
        self._label_seq += 1
        if label is None:
            label = "sub%d" % self._label_seq
        args = list(params)
        if kwargs:
            args.append(dict(kwargs, __starstar=True))
        opts = {"label": label}
        if arch is not None:
            opts["arch"] = arch
        if channel is not None:
            opts["channel"] = channel
        if priority is not None:
            opts["priority"] = priority
        return dict(method=method, arglist=args, parent=self.task_id, **opts)

    def _wake_daemon(self):
        """Tell our daemon that a subtask it may be assigned exists (it polls at once)."""
        if self.daemon_pid:
            if self.wake_stamp is not None:
                struct.pack_into("d", self.wake_stamp, 0, time.monotonic())
            try:
                os.kill(self.daemon_pid, signal.SIGUSR1)
            except OSError:
                pass

    def subtasks_and_wait(self, subtasks):
        """Create the children ``subtasks`` (``[(method, params, {subtask's keywords})]``)
        and wait for all of them; returns ``([their ids], {id: result})``.

        The same as :meth:`subtask` for each and then ``wait(ids, all=True)``, but the
        children, the wait mark and the first look at them go to the hub in one request
        (Koji's newRepo: one call per child, then taskSetWait, then taskWait). The wait mark
        is Koji's ``taskSetWait(task, None)``, "all the children": for a task whose only
        children are these (the ids are not known before the answer)."""
        made, ids = [], []

        def create(m):
            for method, params, kw in subtasks:
                kw = dict(kw)
                call = self._subtask_call(method, params, kw.pop("label", None),
                                          kw.pop("arch", None), kw.pop("channel", None),
                                          kw.pop("priority", None), kw)
                made.append(m.host.subtask(**call))

        def created():
            self._wake_daemon()
            ids.extend(int(x.result) for x in made)
            return list(ids)

        results = self.wait(None, all=True, _create=(create, created))
        return ids, results

    def wait(self, subtask_ids=None, all=True, failany=False, canfail=None, timeout=None,
             _create=None):
        """Wait for subtasks (all of them, or the first that finishes); returns {id: result}.

        While waiting the task is marked ``waiting`` so it does not count against the builder's
        capacity. A failed child raises its fault here (unless in ``canfail``, whose faults come
        back as ``{faultCode, faultString}``); with ``failany`` the other children are canceled
        at the first failure.
        """
        canfail = list(canfail or [])
        ids = None if subtask_ids is None else [int(i) for i in subtask_ids]
        create, created = _create or (None, None)
        deadline = time.monotonic() + timeout if timeout else None
        finished = []
        # kojid's wait: the daemon sends SIGUSR2 when a child finishes (getHostTasks' alert).
        # SIGUSR2 is blocked while waiting, so one sent between taskWait and the sleep stays
        # pending and ends the sleep at once instead of being lost.
        wakeable = threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGUSR2) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2]) if wakeable \
            else None
        try:
            # marking the wait and the first look at the children: one call
            # (with ``_create``, from subtasks_and_wait: the children are made first in the
            # same call, and waited for by their ids once it answered). In a task process of
            # our daemon that call also asks host.getTasks, which assigns the children at
            # once: what it assigned to this host is handed to the daemon, which takes it
            # without a cycle (the daemon's cycle and the hub's bell for the children are
            # spared: TaskContext.hand_tasks)
            hand = TaskContext.hand_tasks if create is not None else None
            mine = None
            with self.session.multicall(strict=hand is None) as m:
                if create is not None:
                    create(m)
                marked = m.host.taskSetWait(self.task_id, ids)
                first = m.host.taskWait(self.task_id)
                if hand is not None:
                    mine = m.host.getTasks()
                    asked = time.monotonic()
            if mine is not None:
                try:
                    tasks = mine.result
                except Exception:   # (the daemon's own cycle takes them then)
                    tasks = None
                if tasks:
                    hand(tasks, asked)
            if created is not None:
                ids = created()   # a child's fault raises here
            if hand is not None:
                marked.result     # as the strict call would, in the order of the calls
                first.result
            finished, results = self._wait_loop(ids, all, failany, canfail, deadline,
                                                wakeable, first.result)
        finally:
            if old_mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if results is None:
            want = ids if (all and ids is not None) else (None if all else finished)
            results = self.session.host.taskWaitResults(self.task_id, want, canfail=canfail)
        return {tid: res for tid, res in results}

    def _wait_loop(self, ids, all, failany, canfail, deadline, wakeable, first):
        """Until the children waited for have finished; returns (finished ids, the answer of
        ``taskWaitResults`` when it came with the last look, else None).

        Waiting for given children (all of them, no ``failany``), each look after the first
        asks for their results in the same call: ``taskWaitResults`` of an unfinished child
        fails, and the hub rolls a failing entry of a multicall back alone (so does Koji's),
        so it leaves nothing behind when they have not all finished; when they have, the wait
        ends without one more call."""
        together = all and ids is not None and not failany
        while True:
            if first is not None:
                (finished, unfinished), first = first, None
            elif together:
                with self.session.multicall() as m:
                    look = m.host.taskWait(self.task_id)
                    res = m.host.taskWaitResults(self.task_id, ids, canfail=canfail)
                finished, unfinished = look.result
                if not unfinished:
                    return finished, res.result   # a failed child's fault raises here
            else:
                finished, unfinished = self.session.host.taskWait(self.task_id)
            if failany:
                for tid in finished:
                    if tid in canfail:
                        continue
                    info = self.session.getTaskInfo(tid)
                    if info["state"] in (koji.TASK_STATES["FAILED"],
                                         koji.TASK_STATES["CANCELED"]):
                        self.session.cancelTaskChildren(self.task_id)
                        self.session.getTaskResult(tid)  # raises the child's fault
            if not unfinished or (finished and not all):
                return finished, None
            now = time.monotonic()
            if deadline and now > deadline:
                raise koji.GenericError("Timed out waiting for subtasks of task %d"
                                        % self.task_id)
            if wakeable:
                pause = self.wake_timeout
                if deadline:
                    pause = max(0.01, min(pause, deadline - now))
                signal.sigtimedwait([signal.SIGUSR2], pause)
            else:
                time.sleep(self.wait_poll)

    # --- files of the hub ------------------------------------------------------------------

    def hub_file(self, relpath, dest=None):
        """Local path of ``<topdir>/<relpath>``: the file itself, or a downloaded copy."""
        # relpath comes from the hub's data (tag names, hrefs of a pkglist): joined safely
        if self.topdir:
            return safe_join(self.topdir, relpath)
        if not self.topurl:
            raise koji.GenericError("the builder has neither a local topdir nor a topurl")
        dest = dest or safe_join(os.path.join(self.workdir, "cache", "topdir"), relpath)
        if not os.path.exists(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            url = "%s/%s" % (self.topurl, urllib.parse.quote(relpath))
            ctx = None
            if url.startswith("https"):
                import ssl

                ctx = ssl.create_default_context(cafile=self.serverca)
            with urllib.request.urlopen(url, context=ctx) as resp, \
                    open(dest + ".part", "wb") as out:
                shutil.copyfileobj(resp, out)
            os.rename(dest + ".part", dest)
        return dest

    def hub_files(self, relpaths):
        """``hub_file`` of many paths (a repo's pkglist): the same paths and the same refusals.

        With a local topdir the real path of each is not computed one by one (1,000 of them took
        0.1 s): every directory and file below the topdir is looked at once with ``lstat``, and
        only a path that meets a symlink goes through ``hub_file``'s full check."""
        if not self.topdir:
            return [self.hub_file(rel) for rel in relpaths]
        if os.path.isdir("/proc/self/fd"):
            return self._hub_files_by_fd(relpaths)
        import stat

        top = self.topdir
        plain = {}   # relative path of a directory or file -> True when it is no symlink
        out = []
        for rel in relpaths:
            path = safe_join(top, rel, resolve=False)
            sub = path[len(top) + 1:] if path.startswith(top + os.sep) else None
            ok = sub is not None
            if ok:
                parts = sub.split(os.sep)
                for i in range(1, len(parts) + 1):
                    key = os.sep.join(parts[:i])
                    known = plain.get(key)
                    if known is None:
                        try:
                            known = not stat.S_ISLNK(os.lstat(os.path.join(top, key)).st_mode)
                        except OSError:
                            known = True   # missing: the reader reports it, as before
                        plain[key] = known
                    if not known:
                        ok = False
                        break
            out.append(path if ok else self.hub_file(rel))
        return out

    def _hub_files_by_fd(self, relpaths):
        """hub_files on Linux: the kernel resolves each path (``O_PATH``: nothing is read, a
        FIFO or a device is not opened) and ``/proc/self/fd`` tells where it led, so a path
        whose real place is below the topdir's is taken without a Python walk over its
        components (1,000 package paths: 20-50 ms that way, on the createrepo task's
        critical path). Any other path goes through hub_file, which refuses it; a missing
        file is left to the reader, as hub_files does."""
        top = self.topdir
        inside = os.path.realpath(top).rstrip(os.sep) + os.sep
        out = []
        for rel in relpaths:
            path = safe_join(top, rel, resolve=False)
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                out.append(path)
                continue
            except OSError:
                out.append(self.hub_file(rel))
                continue
            try:
                real = os.readlink("/proc/self/fd/%d" % fd)
            except OSError:
                real = ""
            finally:
                os.close(fd)
            out.append(path if real.startswith(inside) else self.hub_file(rel))
        return out

    def get_repo(self, tag_or_repo_id):
        """The repo info of a repo id, or of the tag's newest READY repo."""
        if isinstance(tag_or_repo_id, int):
            info = self.session.repoInfo(tag_or_repo_id, strict=True)
        else:
            info = self.session.getRepo(tag_or_repo_id)
            if not info:
                raise koji.GenericError("No repo for tag %s" % tag_or_repo_id)
        return info

    def local_repo(self, tag_or_repo_id, arch):
        """Path of ``repos/<tag>/<id>/<arch>`` for a tag's current repo (or a repo id).

        With a local topdir this is the repo directory itself (its ``toplink`` points at the
        topdir); otherwise the repodata and the packages of its pkglist are downloaded into the
        work directory and a ``toplink`` made to point at the download cache.
        """
        info = self.get_repo(tag_or_repo_id)
        rel = os.path.relpath(safe_join(os.sep, "repos", info["tag_name"], str(int(info["id"])),
                                        component(arch, "arch"), resolve=False), os.sep)
        if self.topdir:
            path = safe_join(self.topdir, rel)
            if not os.path.isdir(path):
                raise koji.GenericError("Repo %s has no %s directory" % (info["id"], arch))
            return path
        cache_top = os.path.join(self.workdir, "cache", "topdir")
        repomd = self.hub_file(rel + "/repodata/repomd.xml")
        import createrepo_c as cr

        md = cr.Repomd(repomd)
        for rec in md.records:
            self.hub_file("%s/%s" % (rel, rec.location_href))
        pkglist = self.hub_file(rel + "/pkglist")
        with open(pkglist) as f:
            for line in f:
                href = line.strip()
                if href.startswith("toplink/"):
                    self.hub_file(href[len("toplink/"):])
        link = os.path.join(cache_top, rel, "toplink")
        if not os.path.lexists(link):
            os.symlink(cache_top, link)
        return os.path.join(cache_top, rel)

    def close(self):
        self._log_handler.close()
        self.log.removeHandler(self._log_handler)


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def weight_for_duration(base, avg_seconds, cap=18.0):
    """Koji's run-time weight raise: ``base`` + 0.75 per hour of average duration (capped)."""
    if not avg_seconds or avg_seconds < 0:
        return float(base)
    return float(base) + min(avg_seconds / 4800.0, cap)
