# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection filters: ssh_tunnel (documented in ssh_tunnel.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.module_utils import _connection


def ssh_tunnel(conn, login):
    """The ssh command that forwards a service's port through the login host, or None."""
    return _connection.ssh_tunnel(conn, login)


class FilterModule(object):
    def filters(self):
        return {"ssh_tunnel": ssh_tunnel}
