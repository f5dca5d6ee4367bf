# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The private files of a service: its directories, files and links in one call.

The private_files module's work, and what slurm_job and local_service do with the same options
(directories, files, links) before a service starts, so that the launcher writes a service's
configuration in the call that starts it.

A role used to spend one remote call per directory, template and link (ansible.builtin.file in a
loop, ansible.builtin.template): on a warm run each call costs about 0.2 s and changes nothing.
Here the wanted state is compared with the disk in one process: plan() only reads, apply() writes
what plan() found different. Files are written under a temporary name created with their final
mode and renamed into place, so a reader never sees a half-written or briefly world-readable file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.ulhpc.workspace.plugins.module_utils._local import write_private_file

DIRECTORY_MODE = 0o700


class PlanError(Exception):
    """A wanted path is in the way of something else (a file where a directory should be...)."""


def parse_mode(text):
    """An octal mode given as text ("0600", "600") as an int; ValueError when it is not one."""
    mode = int(str(text), 8)
    if mode < 0 or mode > 0o7777:
        raise ValueError("mode %s is out of range" % text)
    return mode


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def _missing_parents(path):
    """The missing ancestors of path, outermost first."""
    missing = []
    parent = os.path.dirname(path)
    while parent and parent != os.path.dirname(parent) and _lstat(parent) is None:
        missing.append(parent)
        parent = os.path.dirname(parent)
    return list(reversed(missing))


def plan(directories=(), files=(), links=()):
    """The actions that bring the disk to the wanted state, in the order to run them.

    directories: absolute paths, made (with missing parents) or set to mode 0700.
    files: dicts with path, content (text) and mode (int); written when missing, different, or
    of another mode. links: dicts with path and src, symbolic links replaced when they point
    elsewhere. Each action is (kind, path, detail); nothing is written here.
    """
    actions = []
    seen = set()

    def add(action):
        if (action[0], action[1]) not in seen:
            seen.add((action[0], action[1]))
            actions.append(action)

    def parents(path):
        for parent in _missing_parents(path):
            add(("mkdir", parent, DIRECTORY_MODE))

    for path in directories:
        st = _lstat(path)
        if st is None:
            parents(path)
            add(("mkdir", path, DIRECTORY_MODE))
        elif not stat.S_ISDIR(st.st_mode):
            raise PlanError("%s exists and is not a directory" % path)
        elif stat.S_IMODE(st.st_mode) != DIRECTORY_MODE:
            add(("chmod", path, DIRECTORY_MODE))
    for item in files:
        path, data, mode = item["path"], item["content"].encode("utf-8"), item["mode"]
        st = _lstat(path)
        if st is None:
            parents(path)
            add(("write", path, (data, mode)))
        elif not stat.S_ISREG(st.st_mode):
            raise PlanError("%s exists and is not a regular file" % path)
        elif _read(path) != data:
            add(("write", path, (data, mode)))
        elif stat.S_IMODE(st.st_mode) != mode:
            add(("chmod", path, mode))
    for item in links:
        path, src = item["path"], item["src"]
        st = _lstat(path)
        if st is None:
            parents(path)
            add(("link", path, src))
        elif stat.S_ISDIR(st.st_mode):
            raise PlanError("%s exists and is a directory, not a link" % path)
        elif not stat.S_ISLNK(st.st_mode) or os.readlink(path) != src:
            add(("link", path, src))
    return actions


def _link(path, src):
    """A symbolic link to src made under a temporary name next to path, then renamed over it."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    if _lstat(tmp) is not None:
        os.unlink(tmp)
    try:
        os.symlink(src, tmp)
        os.rename(tmp, path)
    except BaseException:
        if _lstat(tmp) is not None:
            os.unlink(tmp)
        raise


def apply(actions):
    """Run the actions of plan(); the paths it changed, in order."""
    for kind, path, detail in actions:
        if kind == "mkdir":
            os.mkdir(path, detail)
            os.chmod(path, detail)
        elif kind == "chmod":
            os.chmod(path, detail)
        elif kind == "write":
            write_private_file(path, detail[0], detail[1])
        elif kind == "link":
            _link(path, detail)
    return [path for _kind, path, _detail in actions]


def argument_spec():
    """The options directories, files and links (documented by the private_files doc fragment)."""
    return dict(
        directories=dict(type="list", elements="path", default=[]),
        files=dict(type="list", elements="dict", default=[], options=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", required=True, no_log=True),
            mode=dict(type="str", default="0600"),
        )),
        links=dict(type="list", elements="dict", default=[], options=dict(
            path=dict(type="path", required=True),
            src=dict(type="str", required=True),
        )),
    )


def _absolute(module, who, path, what):
    if not os.path.isabs(path):
        module.fail_json(msg="%s: %s %s is not an absolute path; nothing was changed" % (who, what, path))
    return os.path.normpath(path)


def plan_params(module, who):
    """plan() of the module's options directories, files and links, or the module fails (named
    ``who``) before anything changes: a relative path, a bad mode, a path in the way."""
    p = module.params
    directories = [_absolute(module, who, path, "directory") for path in p.get("directories") or []]
    files = []
    for item in p.get("files") or []:
        try:
            mode = parse_mode(item["mode"])
        except ValueError:
            module.fail_json(msg="%s: mode %r of %s is not an octal mode such as 0600; nothing was changed"
                             % (who, item["mode"], item["path"]))
        files.append(dict(path=_absolute(module, who, item["path"], "file"), content=item["content"], mode=mode))
    links = [dict(path=_absolute(module, who, item["path"], "link"), src=item["src"]) for item in p.get("links") or []]
    return _plan_or_fail(module, who, directories, files, links)


def _plan_or_fail(module, who, directories, files, links):
    try:
        return plan(directories, files, links)
    except (PlanError, OSError) as exc:
        module.fail_json(msg="%s: %s; nothing was changed" % (who, to_native(exc)))


def apply_actions(module, who, actions):
    """apply() unless in check mode: the paths changed (or that would be); an error fails the
    module, named ``who``."""
    if module.check_mode:
        return [path for _kind, path, _detail in actions]
    try:
        return apply(actions)
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (who, to_native(exc)))


def make(module, who, directories=(), files=(), links=()):
    """plan(), then apply() unless in check mode: the paths changed (or that would be). A path
    in the way fails the module, named ``who``, before anything changes."""
    return apply_actions(module, who, _plan_or_fail(module, who, directories, files, links))


class PlannedFiles(object):
    """A module's private files (its options directories, files and links): planned when made,
    before anything changes, and written once, by the first of slurm_job's jobs that gets that
    far (keep())."""

    def __init__(self, module, who):
        self.module = module
        self.who = who
        self.actions = plan_params(module, who)
        self.changed_paths = None

    def keep(self):
        """The paths written (in check mode, that would be), once per call."""
        if self.changed_paths is None:
            self.changed_paths = apply_actions(self.module, self.who, self.actions)
        return self.changed_paths
