"""ulhpccelery.check: the end-of-run checks (ping, smoke test, Flower) in one process."""
import base64
import http.server
import json
import os
import sys
import threading

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from ulhpccelery import check  # noqa: E402


class FakeControl(object):
    """app.control whose ping answers with the next prepared list of replies."""

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.calls = []

    def ping(self, timeout, limit):
        self.calls.append((timeout, limit))
        return self.rounds.pop(0) if self.rounds else []


class FakeApp(object):
    def __init__(self, rounds):
        self.control = FakeControl(rounds)


def test_reply_names_drop_the_host():
    assert check.names([{"celery-worker-2@n1": {"ok": "pong"}}, {"celery-worker-1@n2": {"ok": "pong"}}]) == [
        "celery-worker-1", "celery-worker-2"]


def test_ping_asks_again_until_every_worker_answered(monkeypatch):
    monkeypatch.setattr(check.time, "sleep", lambda s: None)
    app = FakeApp([[{"celery-worker-1@n": {}}], [], [{"celery-worker-2@n": {}}]])
    answered, missing = check.ping_until(app, ["celery-worker-1", "celery-worker-2"], deadline=float("inf"))
    assert answered == ["celery-worker-1", "celery-worker-2"] and missing == []
    assert app.control.calls == [(check.PING_WAIT, 2)] * 3


def test_ping_gives_up_at_the_deadline_and_names_the_missing(monkeypatch):
    monkeypatch.setattr(check.time, "sleep", lambda s: None)
    ticks = iter([0.0, 5.0, 11.0])
    app = FakeApp([[{"celery-worker-1@n": {}}]])
    answered, missing = check.ping_until(app, ["celery-worker-1", "celery-worker-2"], deadline=10.0,
                                         clock=lambda: next(ticks))
    assert answered == ["celery-worker-1"] and missing == ["celery-worker-2"]


@pytest.fixture
def flower():
    """A loopback HTTP server that wants basic auth flower:s3cret, as Flower's API does."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            seen.append(self.headers.get("Authorization"))
            good = "Basic " + base64.b64encode(b"flower:s3cret").decode()
            self.send_response(200 if self.headers.get("Authorization") == good else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/api/workers" % server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_flower_answers_with_the_right_credentials(flower):
    url, seen = flower
    assert check.flower_status(url, "flower", "s3cret", "", wait=0) == (200, None)
    assert seen == ["Basic " + base64.b64encode(b"flower:s3cret").decode()]


def test_wrong_credentials_are_reported_at_once_not_retried(flower):
    url, seen = flower
    assert check.flower_status(url, "flower", "wrong", "", wait=60) == (401, "HTTP 401")
    assert len(seen) == 1


def test_main_reports_json_and_fails_on_a_check(flower, capsys, tmp_path):
    url, _seen = flower
    password_file = tmp_path / "flower.password"
    password_file.write_text("wrong\n")
    argv = ["--flower", url, "--flower-user", "flower", "--flower-password-file", str(password_file)]
    assert check.main(argv) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["flower"] == 401 and out["errors"] == ["Flower at %s did not answer 200: HTTP 401" % url]
    password_file.write_text("s3cret")
    assert check.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == []


def test_main_reports_an_unreadable_password_file_without_asking_flower(flower, capsys, tmp_path):
    url, seen = flower
    missing = tmp_path / "absent.password"
    assert check.main(["--flower", url, "--flower-password-file", str(missing)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["flower"] is None and "cannot read Flower's password" in out["errors"][0]
    assert seen == []
