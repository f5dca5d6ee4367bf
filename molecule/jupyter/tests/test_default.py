"""Verify the jupyter scenario: the server proves its identity (TLS) and takes the password, and
the kernel runs notebooks."""
import http.cookiejar
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = "~/.ulhpc/workspaces/m-jupyter"
VENV = "~/.cache/ulhpc-test/venv-jupyter"
NOTEBOOKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "notebooks")
# The user's workspace CA: the server must prove it is the workspace's before a password goes.
TLS = ssl.create_default_context(cafile=os.path.expanduser("~/.ulhpc/tls/ca.crt"))


@pytest.fixture(scope="module")
def conn(host):
    root = host.run("echo " + ROOT).stdout.strip()
    info = json.loads(host.file(root + "/run/jupyter.json").content_string)
    info["password"] = host.file(root + "/secrets/jupyter.password").content_string
    info["root"] = root
    return info


def opener():
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    jar = http.cookiejar.CookieJar()
    return jar, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect,
                                            urllib.request.HTTPSHandler(context=TLS))


def status_after_login(conn, password):
    base = "https://%s:%s/" % (conn["address"], conn["port"])
    jar, op = opener()
    op.open(base + "login", timeout=10).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
    try:
        op.open(base + "login", data=form, timeout=10).read()
    except urllib.error.HTTPError as exc:
        if exc.code != 302:  # 401 for a wrong password
            return exc.code
    try:
        return op.open(base + "api/status", timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_server_accepts_the_password(conn):
    assert status_after_login(conn, conn["password"]) == 200


def test_server_refuses_without_or_with_a_wrong_password(conn):
    assert status_after_login(conn, "not-the-password") == 401
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen("https://%s:%s/api/contents" % (conn["address"], conn["port"]), timeout=10, context=TLS)
    assert exc.value.code == 403


def test_config_holds_only_a_hash(host, conn):
    config = host.file(conn["root"] + "/config/jupyter_server_config.py")
    assert config.mode == 0o600
    assert conn["password"] not in config.content_string
    assert 'hashed_password = "argon2:$argon2id$' in config.content_string
    assert host.file(conn["root"] + "/secrets/jupyter.password").mode == 0o600


def test_kernelspec_is_listed(host):
    venv = host.run("echo " + VENV).stdout.strip()
    specs = json.loads(host.check_output(venv + "/bin/jupyter kernelspec list --json"))["kernelspecs"]
    assert "ulhpc-m-jupyter" in specs
    assert specs["ulhpc-m-jupyter"]["spec"]["argv"][0] == venv + "/bin/ulhpc-python"


def test_pi_notebook_on_the_kernel():
    import nbclient
    import nbformat

    nb = nbformat.read(os.path.join(NOTEBOOKS, "monte-carlo-pi.ipynb"), as_version=4)
    nbclient.NotebookClient(nb, kernel_name="ulhpc-m-jupyter", timeout=180).execute()
    text = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert "pi ~ 3.14 " in text
