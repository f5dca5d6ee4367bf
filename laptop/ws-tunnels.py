# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep ssh tunnels to a workspace's services up, from the laptop.

    python3 ws-tunnels.py [-w WORKSPACE] [--] SSH_DESTINATION_AND_OPTIONS...

for example ``python3 ws-tunnels.py -w myproject -- -p 8022 jdoe@access-iris.uni.lu``.

It reads the workspace's connection files over ssh (they hold addresses and ports, never a
secret), forwards each service's port to a free local port (the same number when it is free),
prints the local URLs, and then keeps going: a dropped connection is opened again, and a
service that restarted on another node or port is followed (the files are read again every
--interval seconds). ``--once`` prints the plan and exits. Standard library only, Python >= 3.8.
"""

import argparse
import json
import re
import shlex
import socket
import subprocess
import sys
import time

# Printed by the remote shell between connection files (a file never holds it: JSON text).
SEPARATOR = "\x1e"


def remote_listing(workspace, root=None):
    """The remote command that prints every connection file of the workspace."""
    base = root or "~/.ulhpc/workspaces/%s" % workspace
    # ~ must stay unquoted to expand remotely; the name is checked in main().
    return ("for f in %s/run/*.json; do [ -f \"$f\" ] && cat \"$f\" && printf '\\036'; done; true" % base)


def parse_listing(text):
    """[connection dict] from the remote listing; files that are not JSON objects are skipped
    (a file being rewritten at that moment is read again on the next round)."""
    out = []
    for chunk in text.split(SEPARATOR):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            conn = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(conn, dict) and conn.get("service"):
            out.append(conn)
    return out


def endpoints(connections):
    """{service: (address, port, url)} of the services that have a TCP endpoint."""
    out = {}
    for conn in connections:
        address, port = conn.get("address"), conn.get("port")
        try:
            port = int(port)
        except (TypeError, ValueError):
            continue
        if address and 0 < port < 65536:
            out[conn["service"]] = (str(address), port, conn.get("url"))
    return out


def port_is_free(port):
    """Whether ssh could listen on the local port now. SO_REUSEADDR as ssh sets it: a port the
    dropped tunnel just served is still in TIME_WAIT, yet free for a new listener."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def plan(services, previous=None, is_free=port_is_free):
    """{service: local port}: a service keeps its previous local port (the tunnel is being
    reopened: the port is ours), else gets its remote port when free, else any free port."""
    kept = {}
    for name, port in sorted((previous or {}).items()):
        if name in services and port and port not in kept.values():  # one service per port
            kept[name] = port
    out = dict(kept)
    taken = set(kept.values())  # kept ports first: a newcomer never takes one of them
    for name in sorted(set(services) - set(kept)):
        remote = services[name][1]
        if remote not in taken and is_free(remote):
            local = remote
        else:
            local = free_port(taken)
        taken.add(local)
        out[name] = local
    return out


def free_port(taken=()):
    while True:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        if port not in taken:
            return port


def local_url(url, local_port):
    """The service's URL as opened through the tunnel (localhost, the local port), or None."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)(\[[^\]]+\]|[^/:]+)(:\d+)?(.*)$", str(url or ""))
    if not match:
        return None
    return "%slocalhost:%d%s" % (match.group(1), local_port, match.group(4))


def tunnel_argv(ssh_args, services, ports):
    """One ssh process for every forward; it exits (and is reopened) when one cannot be set up."""
    argv = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=3"]
    for name in sorted(services):
        address, port, _url = services[name]
        argv += ["-L", "127.0.0.1:%d:%s:%d" % (ports[name], address, port)]
    return argv + list(ssh_args)


def describe(services, ports):
    lines = []
    for name in sorted(services):
        address, port, url = services[name]
        where = local_url(url, ports[name]) or "localhost:%d" % ports[name]
        lines.append("%-16s %s  (%s:%d)" % (name, where, address, port))
    return lines


def read_services(ssh_args, workspace, root, timeout):
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % timeout] + list(ssh_args)
    cmd.append(remote_listing(workspace, root))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout * 3, check=False)
    if proc.returncode != 0:
        raise RuntimeError("cannot read the connection files: %s" % (proc.stderr.strip() or proc.returncode))
    return endpoints(parse_listing(proc.stdout))


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args):
    services, ports, remembered, tunnel, backoff, started = {}, {}, {}, None, 1, 0.0
    while True:
        try:
            fresh = read_services(args.ssh, args.workspace, args.root, args.connect_timeout)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            say("ws-tunnels: %s; trying again in %d s" % (exc, backoff))
            time.sleep(backoff)
            backoff = min(backoff * 2, args.interval)
            continue
        backoff = 1
        if not fresh:
            say("ws-tunnels: workspace %s has no running service with a port" % args.workspace)
        moved = fresh != services
        if moved:
            # Every service keeps the local port it ever had (a browser tab keeps working), also
            # one that was gone for a while, restarting on another node.
            ports = plan(fresh, remembered)
            remembered.update(ports)
            services = fresh
            say("ws-tunnels: workspace %s (%s)" % (args.workspace, time.strftime("%H:%M:%S")))
            for line in describe(services, ports):
                say("  " + line)
        if args.once:
            say("tunnel: " + " ".join(shlex.quote(a) for a in tunnel_argv(args.ssh, services, ports)))
            return 0
        if tunnel is not None and (moved or tunnel.poll() is not None):
            if tunnel.poll() is None:
                tunnel.terminate()
                tunnel.wait()
            else:
                say("ws-tunnels: the tunnel dropped (ssh exit %s); reopening" % tunnel.returncode)
                if time.time() - started < 5:
                    time.sleep(5)  # it failed at once: do not hammer the login host
                # A local port someone else took meanwhile gets a new one; the others stay.
                kept = dict((name, port) for name, port in ports.items() if port_is_free(port))
                if kept != ports:
                    ports = plan(services, kept)
                    remembered.update(ports)
                    for line in describe(services, ports):
                        say("  " + line)
            tunnel = None
        if tunnel is None and services:
            tunnel = subprocess.Popen(tunnel_argv(args.ssh, services, ports), stdin=subprocess.DEVNULL)
            started = time.time()
        # Wait for the next round, waking early when the tunnel drops.
        deadline = time.time() + args.interval
        while time.time() < deadline and (tunnel is None or tunnel.poll() is None):
            time.sleep(0.5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-w", "--workspace", default="default", help="the workspace's name (default: default)")
    parser.add_argument("--root", help="its directory on the cluster, when not ~/.ulhpc/workspaces/<name>")
    parser.add_argument("--interval", type=int, default=30, help="seconds between two reads of the files")
    parser.add_argument("--connect-timeout", type=int, default=10, help="seconds for ssh to connect")
    parser.add_argument("--once", action="store_true", help="print the local URLs and the ssh command, then exit")
    parser.add_argument("ssh", nargs="+", help="what follows `ssh` to reach the login host")
    args = parser.parse_args(argv)
    if not re.match(r"^[a-z0-9_-]+$", args.workspace):
        parser.error("the workspace name %r is not [a-z0-9_-]+" % args.workspace)
    if args.root and not re.match(r"^[A-Za-z0-9_./~-]+$", args.root):
        parser.error("--root %r: use a plain path (letters, digits, _ . / ~ -)" % args.root)
    if args.interval < 1 or args.connect_timeout < 1:
        parser.error("--interval and --connect-timeout must be at least 1 second")
    try:
        return run(args)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
