# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a user types to reach a service from the laptop, built from its connection file.

One place for it: the launcher's result, the published connection info and the status all
print the same command.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def ssh_tunnel(conn, login_host):
    """``ssh -NL <port>:<address>:<port> <login_host>`` for a connection with an address and a
    port, else None (a service without a TCP endpoint, or one not running)."""
    if not isinstance(conn, dict):
        return None
    port, address = conn.get("port"), conn.get("address")
    if not port or not address or not login_host:
        return None
    return "ssh -NL %s:%s:%s %s" % (port, address, port, login_host)
