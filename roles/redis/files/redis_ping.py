# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until a Redis server answers AUTH <user> <password> then PING.

With --cafile the connection is TLS and the server must present a certificate of that CA for
the address: the password is sent only to a server that proved it is the workspace's.
Standard library only (runs with the target's system Python). Prints a JSON line
{"host", "port", "pong", "tries", "elapsed"}; exits 1 with a reason after --timeout.
"""
import argparse
import json
import socket
import ssl
import sys
import time


def command(*args):
    """Encode a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_line(sock_file):
    line = sock_file.readline()
    if not line:
        raise ConnectionError("connection closed")
    return line.rstrip(b"\r\n").decode(errors="replace")


def auth_ping(host, port, user, password, cafile=None, timeout=5.0):
    """'PONG' on success; raises on any error (the reply says why)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if cafile:
        # Verification happens in the handshake, before a byte of the password is written.
        sock = ssl.create_default_context(cafile=cafile).wrap_socket(sock, server_hostname=host)
    with sock:
        sock_file = sock.makefile("rb")
        sock.sendall(command("AUTH", user, password) + command("PING"))
        auth = read_line(sock_file)
        if auth != "+OK":
            raise PermissionError("AUTH refused: %s" % auth)
        pong = read_line(sock_file)
        if pong != "+PONG":
            raise RuntimeError("PING answered: %s" % pong)
        return "PONG"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True, help="the ACL user (nobody is given the default user's password)")
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--cafile", default="")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    with open(args.password_file) as handle:
        password = handle.read().rstrip("\n")
    start = time.monotonic()
    tries = 0
    last_error = ""
    while True:
        tries += 1
        try:
            pong = auth_ping(args.host, args.port, args.user, password, args.cafile or None)
            print(json.dumps({"host": args.host, "port": args.port, "pong": pong, "tries": tries,
                              "elapsed": round(time.monotonic() - start, 3)}))
            return 0
        except ssl.SSLCertVerificationError as exc:
            last_error = ("the server did not prove it is the workspace's Redis (TLS: %s); the password "
                          "was not sent" % (exc.verify_message or exc))
            break
        except PermissionError as exc:
            last_error = str(exc)
            break
        except (OSError, RuntimeError, ConnectionError) as exc:
            last_error = str(exc)
        if time.monotonic() - start > args.timeout:
            break
        time.sleep(min(0.05 * tries, 1.0))
    print(json.dumps({"host": args.host, "port": args.port, "pong": None, "tries": tries,
                      "error": last_error}))
    sys.stderr.write("Redis at %s:%s did not answer AUTH + PING: %s\n" % (args.host, args.port, last_error))
    return 1


if __name__ == "__main__":
    sys.exit(main())
