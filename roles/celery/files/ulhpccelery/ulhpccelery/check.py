# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the celery role checks at the end of a run, in one process (one import of Celery):

1. every expected worker answers a broadcast ping (asked again until the deadline);
2. one task runs through the newest worker's own queue (the smoke test): ``add(20, 22)``;
3. Flower answers its API with its credentials, over TLS against the user's CA.

    python -m ulhpccelery.check --timeout 300 --workers celery-worker-1 celery-worker-2 \\
        [--smoke celery-worker-2@node] [--flower URL --flower-user NAME --flower-password-file PATH
        [--ca-file CA]]

Flower's password is read from its file (0600, made by the celery role), never from the command
line, so it does not travel from the controller either. Prints one JSON
object ({"answered", "missing", "smoke", "flower", "errors"}) and exits 1 when a check failed.
"""
import argparse
import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.request

PING_WAIT = 2.0  # seconds one broadcast ping waits for replies
FLOWER_WAIT = 10.0  # seconds Flower may take to answer after its job is ready


def names(replies):
    """The worker names (before the '@') of ping replies [{"name@host": {"ok": "pong"}}, ...]."""
    return sorted({node.split("@", 1)[0] for reply in replies for node in reply})


def ping_until(app, expected, deadline, clock=time.monotonic):
    """(answered, missing) once every expected worker answered a ping, or at the deadline."""
    answered = set()
    while True:
        replies = app.control.ping(timeout=PING_WAIT, limit=len(expected))
        answered |= set(names(replies))
        missing = sorted(set(expected) - answered)
        if not missing or clock() >= deadline:
            return sorted(answered), missing
        time.sleep(0.5)


def smoke(worker, timeout):
    """add(20, 22) through the worker's own queue (worker_direct), so a backlog does not delay it."""
    from .tasks import add
    return add.apply_async((20, 22), exchange="C.dq2", routing_key=worker).get(timeout=timeout)


def flower_status(url, user, password, ca_file, wait, clock=time.monotonic):
    """The HTTP status of Flower's API with basic auth, asked again for up to ``wait`` seconds.
    The credentials go only to a server whose certificate the user's CA signed, and directly:
    the environment's proxies are not used."""
    handlers = [urllib.request.ProxyHandler({})]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file or None)))
    opener = urllib.request.build_opener(*handlers)
    token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")
    request = urllib.request.Request(url, headers={"Authorization": "Basic " + token})
    end = clock() + wait
    while True:
        status, error = _ask(opener, request)
        # 200 is done, and 401 or 403 is Flower refusing these credentials: asking again won't help.
        if status in (200, 401, 403) or clock() >= end:
            return status, error
        time.sleep(1)


def _ask(opener, request):
    """(HTTP status or None, error text or None) of one request."""
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, "HTTP %d" % exc.code
    except (OSError, ssl.SSLError) as exc:
        return None, str(exc)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--workers", nargs="*", default=[])
    parser.add_argument("--smoke")
    parser.add_argument("--flower")
    parser.add_argument("--flower-user", default="flower")  # celery_flower_user's default
    parser.add_argument("--flower-password-file", default="")
    parser.add_argument("--ca-file", default="")
    args = parser.parse_args(argv)
    out = {"answered": [], "missing": [], "smoke": None, "flower": None, "errors": []}
    if args.workers:
        from .app import app
        out["answered"], out["missing"] = ping_until(app, args.workers, time.monotonic() + args.timeout)
        if out["missing"]:
            out["errors"].append("no ping answer from %s" % ", ".join(out["missing"]))
        elif args.smoke:
            try:
                out["smoke"] = smoke(args.smoke, args.timeout)
            except Exception as exc:  # pylint: disable=broad-except  # reported, not raised
                out["errors"].append("the smoke test failed: %s: %s" % (type(exc).__name__, exc))
            else:
                if out["smoke"] != 42:
                    out["errors"].append("the smoke test returned %r, not 42" % (out["smoke"],))
    if args.flower:
        try:
            with open(args.flower_password_file, encoding="utf-8") as handle:
                password = handle.read().strip()
        except OSError as exc:
            out["flower"], error = None, "cannot read Flower's password: %s" % exc
        else:
            out["flower"], error = flower_status(args.flower, args.flower_user, password, args.ca_file, FLOWER_WAIT)
        if out["flower"] != 200:
            out["errors"].append("Flower at %s did not answer 200: %s" % (args.flower, error))
    print(json.dumps(out))
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
