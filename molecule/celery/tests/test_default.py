"""Verify the celery scenario: the tutorial's tasks come back through the worker job."""
import configparser
import json

import pytest

ROOT = "~/.ulhpc/workspaces/m-celery"


@pytest.fixture(scope="module")
def root(host):
    return host.run("echo " + ROOT).stdout.strip()


def venv_python(host, root, code):
    cmd = host.run("%s/venv-celery/bin/python -c %s" % (root, json.dumps(code)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout


def test_add_batch(host, root):
    out = venv_python(host, root, "from ulhpccelery import tasks; res = [tasks.add.delay(i, i + 1) for i in range(100)];"
                                  " print(all(r.get(timeout=60) == 2 * i + 1 for i, r in enumerate(res)))")
    assert out.strip() == "True"


def test_xsum_and_batch(host, root):
    out = venv_python(host, root, "from ulhpccelery import tasks; from ulhpccelery.batch import add_many;"
                                  " print(tasks.xsum.delay([1, 2, 3]).get(timeout=60),"
                                  " add_many([(1, 2), (3, 4)], chunk_size=1))")
    assert out.strip() == "6 [3, 7]"


def test_celery_ini(host, root):
    ini = host.file(root + "/config/celery.ini")
    assert ini.mode == 0o600
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(ini.content_string)
    redis = json.loads(host.file(root + "/run/redis.json").content_string)
    assert parser["redis"]["broker_port"] == str(redis["port"])
    assert parser["redis"]["broker_hostname"] == redis["address"]
    assert parser["redis"]["broker_password"] == host.file(root + "/secrets/redis.password").content_string.strip()
    assert parser["redis"]["broker_tls"] == "true" and parser["redis"]["broker_username"] == "celery"


def test_worker_answers_ping(host, root):
    cmd = host.run("env ULHPCCELERY_CONFIG=%s/config/celery.ini %s/venv-celery/bin/celery -A ulhpccelery"
                   " inspect ping --json --timeout 5" % (root, root))
    assert cmd.rc == 0, cmd.stderr
    assert [name.split("@")[0] for name in json.loads(cmd.stdout.strip().splitlines()[-1])] == ["celery-worker-1"]
