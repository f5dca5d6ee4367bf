"""Runs a module's main() in-process: exit_json/fail_json raise ModuleExit with the result."""
import json
import os
import stat

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def patch_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, False)

    def fail_json(self, **kwargs):
        kwargs["failed"] = True
        raise ModuleExit(kwargs, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def call_main(main, args, check=False, diff=False):
    """The result main() exits with, for these module args (exits must be patched)."""
    full = dict(args)
    if check:
        full["_ansible_check_mode"] = True
    if diff:
        full["_ansible_diff"] = True
    with patch_module_args(full):
        with pytest.raises(ModuleExit) as info:
            main()
    json.dumps(info.value.result)  # what a module returns must serialise
    return info.value.result


def module_runner(monkeypatch, main):
    """call(args, check=False) -> the result of `main` for those args (exits patched)."""
    patch_exits(monkeypatch)

    def call(args, check=False):
        return call_main(main, args, check=check)

    return call


def file_mode(path):
    """The permission bits of path (following links), as the modules' tests compare them."""
    return stat.S_IMODE(os.stat(str(path)).st_mode)
