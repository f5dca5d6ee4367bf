"""playbooks/jupyter.yml on the test cluster, as the unprivileged test user (workspace t-jupyter).

One server is started for the module (its venv is shared across test runs:
~/.cache/ulhpc-test/venv-jupyter); the tests log in over HTTP and with a real browser, run the
notebooks on the installed kernel, re-run the playbook (changed=0, same job) and in check mode,
replace the password, and feed bad input (nothing may start). Teardown cancels the job.
"""
import http.cookiejar
import json
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import OTHER_USER, REPO, VENV_BIN, run_as, run_notebook, run_playbook, tls_context

WORKSPACE = "t-jupyter"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
KERNEL = "ulhpc-" + WORKSPACE
JOB_NAME = "ws-%s-jupyter" % WORKSPACE
VARS = {"workspace_name": WORKSPACE, "python_venv_path": VENV}
OUTPUT = os.path.join(REPO, "tests", "output")


def read_password():
    with open(os.path.join(ROOT, "secrets", "jupyter.password")) as handle:
        return handle.read()


def connection():
    with open(os.path.join(ROOT, "run", "jupyter.json")) as handle:
        return json.load(handle)


def base_url(conn):
    return "https://%s:%s/" % (conn["address"], conn["port"])


def login(conn, password):
    """(opener holding the session cookies, its _xsrf token, POST /login status)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect,
                                         urllib.request.HTTPSHandler(context=tls_context()))
    base = base_url(conn)
    opener.open(base + "login", timeout=10).read()
    xsrf = [c.value for c in jar if c.name == "_xsrf"]
    assert xsrf, "the login page set no _xsrf cookie"
    form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf[0]}).encode()
    try:
        post = opener.open(base + "login", data=form, timeout=10).status
    except urllib.error.HTTPError as exc:
        post = exc.code
    return opener, xsrf[0], post


def login_status(conn, password):
    """(POST /login status, GET /api/status status with the resulting cookies)."""
    opener, _xsrf, post = login(conn, password)
    try:
        api = opener.open(base_url(conn) + "api/status", timeout=10).status
    except urllib.error.HTTPError as exc:
        api = exc.code
    return post, api


def jobs(name=JOB_NAME):
    proc = run_as(["squeue", "-h", "-n", name, "-o", "%i %T"])
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def started():
    # The notebooks directory is made and filled by the role (an existing copy is kept).
    run_as(["rm", "-rf", os.path.join(ROOT, "data", "notebooks")], check=True)
    result = run_playbook("jupyter.yml", VARS)
    assert result.rc == 0, result.stdout[-6000:]
    yield result
    down = run_playbook("jupyter.yml", dict(VARS, jupyter_state="stopped"))
    assert down.rc == 0, down.stdout[-4000:]
    assert [j for j in jobs() if j[1] in ("PENDING", "RUNNING")] == []
    assert not os.path.exists(os.path.join(ROOT, "run", "jupyter.json"))


def test_started_in_a_slurm_job_and_published(started):
    svc = started.workspace["services"]["jupyter"]
    conn = connection()
    assert svc["launcher"] == "slurm" and svc["job_id"] == conn["job_id"]
    assert [conn["job_id"], "RUNNING"] in jobs()
    assert svc["url"] == "https://%s:%s/" % (conn["host"], conn["port"])
    assert svc["tunnel"] == "ssh -NL {0}:127.0.0.1:{0} localhost".format(conn["port"])
    assert 64000 <= conn["port"] < 65000
    assert svc["secret_files"] == [os.path.join(ROOT, "secrets", "jupyter.password")]
    # The role prints URL, node, port, job, walltime end and the tunnel.
    assert "tunnel: ssh -NL %s:127.0.0.1:%s localhost" % (conn["port"], conn["port"]) in started.stdout
    assert "Slurm job %s, walltime end 20" % conn["job_id"] in started.stdout


def test_server_accepts_the_password_and_refuses_others(started):
    conn = connection()
    assert login_status(conn, read_password()) == (302, 200)
    assert login_status(conn, "not-the-password") == (401, 403)
    for path in ("api/contents", "api/kernels"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(base_url(conn) + path, timeout=10, context=tls_context())
        assert exc.value.code == 403


def test_kernels_use_unix_sockets_not_tcp(started):
    """A kernel started through the server talks over the ipc transport: no TCP port that
    another user of the node could subscribe to."""
    conn = connection()
    opener, xsrf, post = login(conn, read_password())
    assert post == 302
    base = base_url(conn)
    request = urllib.request.Request(base + "api/kernels", data=b"{}", method="POST",
                                     headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"})
    kernel = json.loads(opener.open(request, timeout=60).read())
    try:
        runtime = os.path.join(HOME, ".local", "share", "jupyter", "runtime")
        path = os.path.join(runtime, "kernel-%s.json" % kernel["id"])
        for _attempt in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        with open(path) as handle:
            info = json.load(handle)
        assert info["transport"] == "ipc", info
        assert oct(os.stat(runtime).st_mode & 0o777) == "0o700"
    finally:
        delete = urllib.request.Request(base + "api/kernels/" + kernel["id"], method="DELETE",
                                        headers={"X-XSRFToken": xsrf})
        opener.open(delete, timeout=30).read()


def test_password_only_hashed_and_private(started):
    password = read_password()
    assert len(password) >= 12
    config_path = os.path.join(ROOT, "config", "jupyter_server_config.py")
    with open(config_path) as handle:
        config = handle.read()
    assert password not in config
    assert 'c.PasswordIdentityProvider.hashed_password = "argon2:$argon2id$' in config
    for path in (config_path, os.path.join(ROOT, "secrets", "jupyter.password")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert run_as(["cat", path], user=OTHER_USER).returncode != 0
    assert password not in started.stdout
    with open(os.path.join(ROOT, "run", "jupyter.sh")) as handle:
        assert password not in handle.read()


def test_kernelspec_listed_with_the_module_wrapper(started):
    proc = run_as([os.path.join(VENV, "bin", "jupyter"), "kernelspec", "list"])
    assert proc.returncode == 0, proc.stderr
    assert KERNEL in proc.stdout.split()
    proc = run_as([os.path.join(VENV, "bin", "jupyter"), "kernelspec", "list", "--json"])
    spec = json.loads(proc.stdout)["kernelspecs"][KERNEL]["spec"]
    assert spec["argv"][:3] == [os.path.join(VENV, "bin", "ulhpc-python"), "-m", "ipykernel_launcher"]
    # Celery and the tutorial's package are importable from the kernel (python_venv_local_packages).
    proc = run_as([os.path.join(VENV, "bin", "python"), "-c",
                   "import celery, ulhpccelery.celery, ulhpccelery.tasks; print(celery.__version__)"])
    assert proc.returncode == 0 and proc.stdout.strip() == "5.7.0", proc.stderr
    # The workspace's IPython profile: a bare ipp.Client() looks for the cluster there.
    assert spec["argv"][-1] == "--profile=ws-" + WORKSPACE
    assert os.path.isdir(os.path.join(HOME, ".ipython", "profile_ws-" + WORKSPACE))
    assert spec["display_name"] == "Python (ulhpc %s)" % WORKSPACE


def run_workspace_notebook(name):
    proc = run_notebook(os.path.join(VENV_BIN, "python"), name, KERNEL, env={"WS_NAME": WORKSPACE}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_pi_notebook_gives_pi_to_two_decimals(started):
    out = run_workspace_notebook("monte-carlo-pi.ipynb")
    assert "pi ~ 3.14 " in out
    assert "[image/png]" in out  # matplotlib from the venv drew the figure


def test_getting_started_notebook_lists_the_server(started):
    conn = connection()
    out = run_workspace_notebook("getting-started.ipynb")
    assert "workspace: %s -> %s" % (WORKSPACE, ROOT) in out
    assert "jupyter    %s" % conn["url"] in out
    assert "Slurm job %s" % conn["job_id"] in out
    assert "python: %s/bin/python" % VENV in out
    assert "mpi4py       4.1.2" in out


def test_notebooks_copied_into_the_root_dir(started):
    data = os.path.join(ROOT, "data", "notebooks")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    shipped = sorted(n for n in os.listdir(os.path.join(REPO, "notebooks")) if n.endswith(".ipynb"))
    assert {"getting-started.ipynb", "monte-carlo-pi.ipynb"} <= set(shipped)
    assert sorted(n for n in os.listdir(data) if n.endswith(".ipynb")) == shipped
    for name in shipped:
        assert stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode) == 0o600
        with open(os.path.join(data, name)) as handle:
            # The copy opens on this workspace's kernel, not on a bare python3.
            assert json.load(handle)["metadata"]["kernelspec"]["name"] == KERNEL, name


def test_browser_logs_in_and_sees_the_notebooks(started):
    from playwright.sync_api import sync_playwright

    conn = connection()
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "jupyter-login.png")
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            # The browser does not know the user's CA (a user trusts it once); the certificate
            # itself is verified by every other test of this module.
            page = browser.new_page(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
            page.goto(base_url(conn) + "login", timeout=60000)
            page.fill("input[type=password]", read_password())
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_url("**/lab**", timeout=60000)
            listing = page.locator(".jp-DirListing-content")
            listing.get_by_text("monte-carlo-pi.ipynb").wait_for(timeout=60000)
            listing.get_by_text("getting-started.ipynb").wait_for(timeout=10000)
            page.screenshot(path=shot)
        finally:
            browser.close()
    assert os.path.getsize(shot) > 10000


def test_second_run_changes_nothing_and_keeps_the_server(started):
    before = connection()
    again = run_playbook("jupyter.yml", VARS)
    assert again.rc == 0, again.stdout[-4000:]
    assert again.changed == 0, again.stdout[-6000:]
    assert connection() == before
    assert again.workspace["services"]["jupyter"]["url"] == before["url"]
    assert login_status(before, read_password()) == (302, 200)


def test_check_mode_changes_nothing(started):
    before = connection()
    with open(os.path.join(ROOT, "config", "jupyter_server_config.py")) as handle:
        config = handle.read()
    checked = run_playbook("jupyter.yml", VARS, check=True)
    assert checked.rc == 0, checked.stdout[-4000:]
    assert checked.changed == 0, checked.stdout[-6000:]
    # A new password in check mode: reported as a change, nothing written or restarted.
    checked = run_playbook("jupyter.yml", dict(VARS, jupyter_password="a-new-password-in-check-mode"), check=True)
    assert checked.rc == 0, checked.stdout[-4000:]
    assert checked.changed > 0
    assert connection() == before
    with open(os.path.join(ROOT, "config", "jupyter_server_config.py")) as handle:
        assert handle.read() == config
    assert read_password() != "a-new-password-in-check-mode"


def test_restarted_starts_a_new_job(started):
    before = connection()
    result = run_playbook("jupyter.yml", dict(VARS, jupyter_state="restarted"))
    assert result.rc == 0 and result.changed > 0, result.stdout[-4000:]
    after = connection()
    assert after["job_id"] != before["job_id"]
    assert [j for j in jobs() if j[1] in ("PENDING", "RUNNING")] == [[after["job_id"], "RUNNING"]]
    assert login_status(after, read_password()) == (302, 200)


def test_given_password_replaces_the_server(started):
    before = connection()
    old = read_password()
    given = "given-password-" + os.urandom(6).hex()  # differs from the one in use
    result = run_playbook("jupyter.yml", dict(VARS, jupyter_password=given))
    assert result.rc == 0, result.stdout[-4000:]
    assert given not in result.stdout
    after = connection()
    assert after["job_id"] != before["job_id"]
    assert read_password() == given
    assert login_status(after, given) == (302, 200)
    assert login_status(after, old) == (401, 403)
    again = run_playbook("jupyter.yml", dict(VARS, jupyter_password=given))
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]


def test_without_tls_the_server_speaks_plain_http():
    """workspace_tls=false (trusted nodes): http:// and the password login still works."""
    plain = WORKSPACE + "-plain"
    try:
        result = run_playbook("jupyter.yml", {"workspace_name": plain, "python_venv_path": VENV, "workspace_tls": False})
        assert result.rc == 0, result.stdout[-4000:]
        with open(os.path.join(HOME, ".ulhpc", "workspaces", plain, "run", "jupyter.json")) as handle:
            conn = json.load(handle)
        assert conn["url"].startswith("http://") and conn["tls"] == 0
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen("http://%s:%s/api/contents" % (conn["address"], conn["port"]), timeout=10)
        assert exc.value.code == 403
    finally:
        run_playbook("jupyter.yml", {"workspace_name": plain, "python_venv_path": VENV, "jupyter_state": "stopped"})


BAD_WORKSPACE = "t-jupyter-bad"
BAD_VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter-bad")


@pytest.mark.parametrize("extra, message", [
    ({"jupyter_password": "short"}, "jupyter_password is too short (5 characters, at least 12"),
    ({"jupyter_port": 80}, "jupyter_port 80 is outside 1024-65535"),
    ({"jupyter_port": 70000}, "jupyter_port 70000 is outside 1024-65535"),
    ({"python_venv_interpreter": "/opt/no/such/python3"}, "python interpreter '/opt/no/such/python3' not found"),
    ({"python_venv_modules": ["lang/NoSuchPython/9.9"]},
     "environment module 'lang/NoSuchPython/9.9' cannot be loaded"),
])
def test_bad_input_fails_clearly_and_starts_nothing(extra, message):
    result = run_playbook("jupyter.yml", dict({"workspace_name": BAD_WORKSPACE, "python_venv_path": BAD_VENV},
                                              **extra))
    assert result.rc != 0
    assert message in " ".join(result.stdout.split()), result.stdout[-4000:]
    if "jupyter_password" in extra:
        assert "'short'" not in result.stdout and '"short"' not in result.stdout  # not echoed
    assert jobs("ws-%s-jupyter" % BAD_WORKSPACE) == []
    assert not os.path.exists(BAD_VENV)
    bad_root = os.path.join(HOME, ".ulhpc", "workspaces", BAD_WORKSPACE)
    assert not os.path.exists(os.path.join(bad_root, "run", "jupyter.json"))
    assert not os.path.exists(os.path.join(bad_root, "config", "jupyter_server_config.py"))


def test_check_mode_on_a_fresh_workspace_creates_nothing():
    fresh_root = os.path.join(HOME, ".ulhpc", "workspaces", "t-jupyter-check")
    fresh_venv = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter-check")
    result = run_playbook("jupyter.yml", {"workspace_name": "t-jupyter-check", "python_venv_path": fresh_venv},
                          check=True)
    assert result.rc == 0, result.stdout[-4000:]
    assert result.changed > 0
    assert "Would create or update %s" % fresh_venv in " ".join(result.stdout.split())
    assert not os.path.exists(fresh_root) and not os.path.exists(fresh_venv)
    assert jobs("ws-t-jupyter-check-jupyter") == []
