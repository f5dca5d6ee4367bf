# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secret module's work: create a random secret file once, 0600, atomically; fix modes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import os
import stat
import tempfile


def encode_secret(raw, fmt):
    """Encode random bytes as hex or unpadded base64url text."""
    if fmt == "hex":
        return binascii.hexlify(raw).decode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


class Secret(object):
    def __init__(self, module, path, existing=None):
        self.module = module
        self.path = os.path.abspath(path)
        self.parent = os.path.dirname(self.path)
        # Only read (state existing): the module's state, unless the caller says.
        self.existing = module.params["state"] == "existing" if existing is None else existing

    def _read(self):
        try:
            with open(self.path, "r") as handle:
                return handle.read().rstrip("\n")
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            self.module.fail_json(msg="Cannot read the secret file %s: %s" % (self.path, exc))

    def _fix_mode(self, path, wanted, fixed):
        current = stat.S_IMODE(os.lstat(path).st_mode)
        if current != wanted:
            fixed.append(path)
            if not self.module.check_mode:
                os.chmod(path, wanted)

    def require(self):
        """For state existing: fail, before anything changes, unless the secret is there."""
        value = self._read() if os.path.isfile(self.path) else None
        if not value:
            self.module.fail_json(msg="The secret file %s is %s; another step makes it (state: existing creates "
                                      "nothing)" % (self.path, "empty" if value == "" else "missing"))

    def run(self):
        if self.existing:
            self.require()
        result = dict(changed=False, path=self.path, created=False, fixed_modes=[], value="")
        if os.path.isdir(self.path):
            self.module.fail_json(msg="%s is a directory; give the path of the secret file" % self.path, **result)
        fixed = result["fixed_modes"]
        if os.path.isdir(self.parent):
            self._fix_mode(self.parent, 0o700, fixed)
        elif self.module.check_mode:
            if os.path.lexists(self.parent):
                self.module.fail_json(msg="%s exists and is not a directory" % self.parent, **result)
        else:
            # Create first and judge after: a concurrent first run may create the directory
            # between any test and this call, and makedirs(exist_ok) accepts only a directory.
            old_umask = os.umask(0o077)
            try:
                os.makedirs(self.parent, 0o700, exist_ok=True)
            except OSError as exc:
                self.module.fail_json(msg="%s exists and is not a directory (%s)" % (self.parent, exc), **result)
            finally:
                os.umask(old_umask)
        value = self._read() if os.path.exists(self.path) else None
        if value:
            self._fix_mode(self.path, 0o600, fixed)
            result["value"] = value
        else:
            result["created"] = True
            if not self.module.check_mode:
                result["value"] = self._create()
        result["changed"] = bool(result["created"] or fixed)
        return result

    def _create(self):
        """Write a new secret to a private temporary file, then link it into place.

        link() is atomic and fails when the name exists, so a concurrent run either wins or
        reads the complete secret of the run that did: nobody ever sees a half-written file,
        and every run returns what the file holds.
        """
        value = encode_secret(os.urandom(self.module.params["bytes"]), self.module.params["format"])
        if os.path.exists(self.path) and not self._read():
            # an empty file left by an older version's interrupted run: replace it
            try:
                os.unlink(self.path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    self.module.fail_json(msg="Cannot replace the empty secret file %s: %s" % (self.path, exc))
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(self.path), dir=self.parent)
        try:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, value.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.path)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    self.module.fail_json(msg="Cannot create the secret file %s: %s" % (self.path, exc))
                existing = self._read()
                if not existing:
                    self.module.fail_json(msg="The secret file %s appeared empty while it was created" % self.path)
                return existing
        finally:
            os.unlink(tmp)
        return value
