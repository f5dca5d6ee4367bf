# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Log in to a Jupyter server (argv[1], e.g. http://10.0.0.1:64123/) with the password read
# from stdin, as a browser does: GET /login for the _xsrf cookie, POST the form, then GET
# /api/status with the session cookie. Retries connection errors for argv[2] seconds.
# Prints "ok" or the reason (never the password); exits non-zero on failure.
import http.cookiejar
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

base, limit = sys.argv[1], float(sys.argv[2])
password = sys.stdin.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def login():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
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
        error = "cannot reach %s: %s" % (base, exc)
        if time.time() > deadline:
            break
        time.sleep(1)
print(error or "ok")
sys.exit(1 if error else 0)
