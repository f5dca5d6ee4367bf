# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options directories, files and links: a service's private files, kept by private_files,
and by slurm_job and local_service before the service starts (module_utils/_private_files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  directories:
    description: Absolute paths of directories to make, or to set to mode C(0700).
    type: list
    elements: path
    default: []
  files:
    description: Files to write when missing or different.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file. Missing parents are made with mode C(0700).
        type: path
        required: true
      content:
        description: The file's whole text (UTF-8).
        type: str
        required: true
      mode:
        description: Octal mode of the file, as a string.
        type: str
        default: "0600"
  links:
    description: Symbolic links to make, or to point again when they point elsewhere.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the link. What is there (a file or a link) is replaced.
        type: path
        required: true
      src:
        description: What the link points to, written as given.
        type: str
        required: true
"""
