# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Log in to a Jupyter server (argv[1], e.g. https://10.0.0.1:64123/) with the password read
# from stdin, as a browser does: GET /login for the _xsrf cookie, POST the form, then GET
# /api/status with the session cookie. argv[3] is the CA certificate to verify the server
# against ("" for plain http): the password is sent only to a server that proved with a
# certificate of the user's own CA that it is the workspace's. Proxy variables are ignored
# (the server is reached directly). Retries connection errors for argv[2] seconds.
# Prints "ok" or the reason (never the password); exits non-zero on failure.
import http.cookiejar
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

base, limit, cafile = sys.argv[1], float(sys.argv[2]), sys.argv[3]
password = sys.stdin.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener_for(jar):
    handlers = [urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar), NoRedirect]
    if base.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    return urllib.request.build_opener(*handlers)


def login():
    jar = http.cookiejar.CookieJar()
    opener = opener_for(jar)
    opener.open(base + "login", timeout=10).read()
    xsrf = [cookie.value for cookie in jar if cookie.name == "_xsrf"]
    if not xsrf:
        return "the login page set no _xsrf cookie"
    form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf[0]}).encode()
    try:
        opener.open(base + "login", data=form, timeout=10).read()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return "the password was refused (POST /login answered HTTP 401)"
        if exc.code not in (301, 302, 303):
            return "POST /login answered HTTP %d" % exc.code
    try:
        opener.open(base + "api/status", timeout=10).read()
    except urllib.error.HTTPError as exc:
        return "the password was refused (GET /api/status answered HTTP %d after logging in)" % exc.code
    return None


deadline = time.time() + limit
while True:
    try:
        error = login()
        break
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            # Not ours: never retried, and the password was not sent.
            error = ("the server at %s did not prove it is the workspace's (TLS: %s); the password was "
                     "not sent. Another process may hold that address: re-run the play to restart the service"
                     % (base, reason.verify_message or reason))
            break
        error = "cannot reach %s: %s" % (base, exc)
        if time.time() > deadline:
            break
        time.sleep(1)
print(error or "ok")
sys.exit(1 if error else 0)
