"""A small local PKI for the hub: a CA, a server certificate, user certificates, a koji profile.

Uses the ``openssl`` command (present on every Debian system), so no Python crypto package is
needed. Keys are EC P-256 (fast to make). A user's certificate and key go into one ``<user>.pem``,
which is what the koji client's ``cert`` option expects.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import tempfile

from ..errors import ToolError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"


def _openssl(*args):
    cmd = ["openssl", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError("openssl failed (%s): %s" % (" ".join(cmd), proc.stderr.strip()),
                        cmd=cmd, returncode=proc.returncode)


def _newkey(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


def make_ca(directory, subject="/O=pungi-like/CN=pungi-like local CA", days=3650):
    """Create ``ca.crt``/``ca.key`` in ``directory`` unless they exist; return the cert path."""
    os.makedirs(directory, exist_ok=True)
    crt, key = os.path.join(directory, CA_CERT), os.path.join(directory, CA_KEY)
    if not (os.path.exists(crt) and os.path.exists(key)):
        _newkey(key)
        _openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days", str(days),
                 "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt


def _sign(directory, name, subject, extensions, days=825):
    key = os.path.join(directory, name + ".key")
    crt = os.path.join(directory, name + ".crt")
    _newkey(key)
    with tempfile.TemporaryDirectory() as tmp:
        csr = os.path.join(tmp, "req.csr")
        ext = os.path.join(tmp, "ext.cnf")
        with open(ext, "w") as f:
            f.write(extensions)
        _openssl("req", "-new", "-key", key, "-out", csr, "-subj", subject)
        _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(directory, CA_CERT),
                 "-CAkey", os.path.join(directory, CA_KEY), "-CAcreateserial",
                 "-out", crt, "-days", str(days), "-extfile", ext)
    return crt, key


def make_server_cert(directory, hostnames):
    """Server certificate for ``hostnames`` (DNS names or IP addresses) signed by the CA."""
    alt = []
    for h in hostnames:
        try:
            ipaddress.ip_address(h)
            alt.append("IP:" + h)
        except ValueError:
            alt.append("DNS:" + h)
    ext = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % ",".join(alt))
    return _sign(directory, "server", "/O=pungi-like/CN=%s" % hostnames[0], ext)


def make_user_cert(directory, user):
    """Client certificate with CN=user; returns ``<user>.pem`` (certificate + key)."""
    ext = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=clientAuth\n")
    crt, key = _sign(directory, "user-" + user, "/O=pungi-like/CN=%s" % user, ext)
    pem = os.path.join(directory, user + ".pem")
    with open(pem, "w") as out:
        for part in (crt, key):
            with open(part) as f:
                out.write(f.read())
    os.chmod(pem, 0o600)
    return pem


def write_koji_profile(path, profile, server_url, cert, serverca, topurl=None, topdir=None,
                       weburl=None):
    """Append or replace ``[profile]`` in a koji client config file.

    ``topurl`` and ``weburl`` default to the hub's ``/kojifiles`` and ``/koji`` beside a
    ``.../kojihub`` server URL, so the links the CLI prints ("Task info: .../taskinfo?taskID=N")
    lead to the hub's web pages.
    """
    base = server_url.rsplit("/kojihub", 1)[0] if "/kojihub" in server_url else None
    topurl = topurl or (base + "/kojifiles" if base else None)
    weburl = weburl or (base + "/koji" if base else None)
    lines = ["[%s]" % profile, "server = %s" % server_url, "authtype = ssl",
             "cert = %s" % cert, "serverca = %s" % serverca]
    if weburl:
        lines.append("weburl = %s" % weburl)
    if topurl:
        lines.append("topurl = %s" % topurl)
    if topdir:
        lines.append("topdir = %s" % topdir)
    # Fail fast instead of the client's default 30 retries x 20 s against a hub that is down.
    lines += ["max_retries = 2", "retry_interval = 1", "anon_retry = true", "poll_interval = 1"]
    kept = []
    if os.path.exists(path):
        skipping = False
        with open(path) as f:
            for line in f.read().splitlines():
                if line.strip().startswith("["):
                    skipping = line.strip() == "[%s]" % profile
                if not skipping:
                    kept.append(line)
    text = "\n".join(kept + ([""] if kept else []) + lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path
