# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user's private certificate authority (the tls_ca module).

Services of a workspace serve TLS with a certificate that their job issues from this CA
(roles/launcher/files/ws-lib.sh, ws_tls_issue), and every client of the collection verifies
against the CA's certificate: a listener that took a service's old address cannot prove it
is the service, so no password is ever sent to it.

The keys are made by the `openssl` command (the standard library cannot), argv lists only.
Pure helpers first (unit-tested without openssl), then the TlsCa class.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)


def pem_fingerprint(pem_text):
    """SHA-256 fingerprint of the first certificate of a PEM text, as AB:CD:... (None if none)."""
    match = PEM_CERT.search(pem_text or "")
    if not match:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def key_argv(openssl, key_path):
    """openssl argv that writes a new P-256 private key (PEM) to key_path."""
    return [openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key_path]


def cert_argv(openssl, key_path, cert_path, common_name, days):
    """openssl argv of the CA's self-signed certificate (CA:TRUE, may sign servers only)."""
    return [openssl, "req", "-x509", "-new", "-key", key_path, "-sha256", "-days", str(int(days)),
            "-subj", "/CN=%s/O=ulhpc.workspace" % common_name.replace("/", "_"),
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", cert_path]


def trust_hint(cert_path, fingerprint):
    """One line that tells a user how to trust the CA, for summaries."""
    return ("services use TLS from your workspace CA %s (SHA-256 %s): trust it once in your browser, "
            "or pass it as the CA file to clients" % (cert_path, fingerprint))


class TlsCa(object):
    """Create the CA once (key 0600 in a 0700 directory); report it otherwise."""

    def __init__(self, module):
        self.module = module
        self.dir = os.path.abspath(os.path.expanduser(module.params["path"]))
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.crt")

    def _result(self, changed, created):
        fingerprint = None
        if os.path.exists(self.cert):
            with open(self.cert) as handle:
                fingerprint = pem_fingerprint(handle.read())
        return dict(changed=changed, created=created, path=self.dir, key=self.key, cert=self.cert,
                    fingerprint_sha256=fingerprint,
                    trust_hint=trust_hint(self.cert, fingerprint) if fingerprint else None)

    def _check_existing(self):
        have_key, have_cert = os.path.exists(self.key), os.path.exists(self.cert)
        if have_key != have_cert:
            self.module.fail_json(
                msg="The CA in %s is incomplete (%s is missing): move the directory away and re-run, "
                    "which creates a new CA (services then get certificates from it)"
                    % (self.dir, self.cert if have_key else self.key))
        if have_key:
            mode = stat.S_IMODE(os.stat(self.key).st_mode)
            if mode & 0o077:
                self.module.fail_json(
                    msg="The CA key %s has mode %o: others could read it; it must be 0600. Treat it as "
                        "leaked: move %s away and re-run to create a new CA" % (self.key, mode, self.dir))
        return have_key

    def run(self):
        # Outside the lock only a complete CA counts: another run may be writing one.
        if (os.path.exists(self.cert) or self.module.check_mode) and self._check_existing():
            return self._result(False, False)
        if self.module.check_mode:
            return dict(self._result(True, True), fingerprint_sha256=None, trust_hint=None)
        openssl = self.module.get_bin_path("openssl", required=True)
        old_umask = os.umask(0o077)
        try:
            try:
                os.makedirs(self.dir, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
            # Two first runs at once (two terminals, two login nodes on one $HOME): the lock
            # makes the second wait and then find the first one's CA.
            with open(os.path.join(self.dir, ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self._check_existing():
                    return self._result(False, False)
                self._create(openssl)
        finally:
            os.umask(old_umask)
        return self._result(True, True)

    def _create(self, openssl):
        tmp = tempfile.mkdtemp(prefix=".new-", dir=self.dir)
        try:
            key, cert = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.crt")
            for argv in (key_argv(openssl, key),
                         cert_argv(openssl, key, cert, self.module.params["common_name"], self.module.params["days"])):
                rc, out, err = self.module.run_command(argv)
                if rc != 0:
                    self.module.fail_json(msg="openssl failed (rc=%d) while creating the CA: %s" % (rc, (err or out).strip()),
                                          cmd=argv[:2])
            os.chmod(key, 0o600)
            os.chmod(cert, 0o644)
            # The certificate goes last: a CA is complete once ca.crt exists.
            os.rename(key, self.key)
            os.rename(cert, self.cert)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
