# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a user types on the laptop to reach a service, built from its connection file.

One place for it: the launcher's result, the published connection info, the status and the
summary all print the same tunnel command, ~/.ssh/config block and local URL.

The login is one shape everywhere: ``{host, port, user, via}`` (a bare host name is accepted
too). ``via: login`` forwards through the login host to the node's address, which every node
can be reached on from there; ``via: node`` jumps through the login host (``ssh -J``) to the
compute node itself, for sites that route nothing from the login host to the nodes but let
users ssh to a node where they have a job.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re


def login_of(login):
    """The login settings as a dict, from a dict or a bare host name."""
    if isinstance(login, dict):
        out = dict(host=str(login.get("host") or ""), port=int(login.get("port") or 0),
                   user=str(login.get("user") or ""), via=str(login.get("via") or "login"))
    else:
        out = dict(host=str(login or ""), port=0, user="", via="login")
    return out


def _target(host, user):
    return "%s@%s" % (user, host) if user else host


def _endpoint(conn):
    if not isinstance(conn, dict):
        return None, None
    port, address = conn.get("port"), conn.get("address")
    if not port or not address:
        return None, None
    return str(address), int(port)


def ssh_tunnel(conn, login):
    """The ssh command that forwards the service's port to the same port on the laptop, or
    None (a service without a TCP endpoint, one not running, or no login host)."""
    address, port = _endpoint(conn)
    login = login_of(login)
    if not address or not login["host"]:
        return None
    forward = "-NL %d:%s:%d" % (port, address, port)
    if login["via"] == "node" and conn.get("host"):
        jump = _target(login["host"], login["user"]) + (":%d" % login["port"] if login["port"] else "")
        return "ssh -J %s %s %s" % (jump, forward, _target(conn["host"], login["user"]))
    port_arg = "-p %d " % login["port"] if login["port"] else ""
    return "ssh %s%s %s" % (port_arg, forward, _target(login["host"], login["user"]))


def ssh_alias(workspace, service):
    """The Host name of a service's ~/.ssh/config block: ws-<workspace>-<service>."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", "ws-%s-%s" % (workspace, service))


def ssh_config(conn, login, workspace):
    """A ~/.ssh/config block that opens the same tunnel with ``ssh -N <alias>``, or None."""
    address, port = _endpoint(conn)
    login = login_of(login)
    if not address or not login["host"]:
        return None
    lines = ["Host %s" % ssh_alias(workspace, conn.get("service") or "service")]
    if login["via"] == "node" and conn.get("host"):
        jump = _target(login["host"], login["user"]) + (":%d" % login["port"] if login["port"] else "")
        lines += ["    HostName %s" % conn["host"], "    ProxyJump %s" % jump]
    else:
        lines.append("    HostName %s" % login["host"])
        if login["port"]:
            lines.append("    Port %d" % login["port"])
    if login["user"]:
        lines.append("    User %s" % login["user"])
    lines += ["    LocalForward %d %s:%d" % (port, address, port),
              # a port taken on the laptop must fail the tunnel, not leave a silent shell
              "    ExitOnForwardFailure yes",
              "    ServerAliveInterval 30"]
    return "\n".join(lines) + "\n"


def local_url(conn):
    """The service's URL as the laptop opens it through the tunnel (localhost, same port), or
    None when the service publishes no URL."""
    address, port = _endpoint(conn)
    url = conn.get("url") if isinstance(conn, dict) else None
    if not address or not url:
        return None
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)(\[[^\]]+\]|[^/:]+)(:\d+)?(.*)$", str(url))
    if not match:
        return None
    return "%slocalhost:%d%s" % (match.group(1), port, match.group(4))


def laptop_access(conn, login, workspace):
    """{tunnel, ssh_alias, ssh_config, local_url} of one service, each None when it does not apply."""
    block = ssh_config(conn, login, workspace)
    return dict(tunnel=ssh_tunnel(conn, login), ssh_config=block,
                ssh_alias=ssh_alias(workspace, conn.get("service") or "service") if block else None,
                local_url=local_url(conn))
