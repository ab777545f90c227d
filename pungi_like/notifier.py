"""Notification scripts (``--notification-script``), as Pungi runs them.

Each message runs ``CMD <message-name>`` with the JSON body on stdin, serialised by a lock, with
its output kept in ``logs/global/notifications/``. A failing or missing script is logged and never
breaks the compose.
"""

import json
import logging
import os
import shlex
import subprocess
import threading
import time

log = logging.getLogger("pungi_like.notifier")


class Notifier:
    def __init__(self, scripts, cwd=None):
        self.scripts = list(scripts or [])
        self.cwd = cwd
        self.log_dir = None
        self._lock = threading.Lock()
        self._seq = 0

    def set_compose(self, compose):
        self.cwd = compose.paths.compose_dir(create=True)
        self.log_dir = compose.paths.notifications_dir()

    def send(self, message, body):
        if not self.scripts:
            return
        data = json.dumps(body, sort_keys=True)
        with self._lock:
            for script in self.scripts:
                self._seq += 1
                cmd = shlex.split(script) + [message]
                try:
                    proc = subprocess.run(cmd, input=data, cwd=self.cwd, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          timeout=300)
                    output, rc = proc.stdout, proc.returncode
                except (OSError, subprocess.SubprocessError) as exc:
                    output, rc = str(exc), None
                if self.log_dir:
                    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime())
                    path = os.path.join(self.log_dir,
                                        f"notification-{stamp}-{self._seq:04d}.log")
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(f"$ {shlex.join(cmd)}\n{data}\n---\n{output}\n# exit {rc}\n")
                if rc != 0:
                    log.warning("Failed to invoke notification script %s for %s (exit %s)",
                                script, message, rc)
