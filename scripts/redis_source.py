# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find a verified Valkey (Redis) source tarball for `make demo`; print the redis role's extra-vars.

Only tarballs that the redis role's table of known sources (roles/redis/vars/main.yml) lists are
accepted, each with the SHA-256 the table records. In order:

1. a tarball of the table already in the cache (~/.cache/ulhpc-workspace), checksum re-checked;
2. upstream (--from auto|upstream): the table's URL of the role's default version, downloaded
   into the cache and checked against upstream's SHA-256;
3. the distribution's archive (--from auto|archive), read with a private apt state: no root, no
   deb-src entry, nothing changed in the system's apt configuration. apt checks the archive's
   signed index and the file against it; this script then checks the same file against the
   index's SHA-256 and against the table's.

With --url (make demo REDIS_SOURCE=...), that source is used instead: its SHA-256 is --sha256 or
the table's for its file name, its version --version or the one in its file name; a local file is
checked here, before the playbook starts.

Prints the extra-vars as JSON (``{"redis_version": V, "redis_source_url": PATH}``) on stdout;
what it does goes to stderr. Exit 1 with what to do when no source can be had.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE = os.path.join(HERE, "roles", "redis")
# The archive keyring each distribution signs its archive with (the system's apt uses the same).
KEYRINGS = {
    "debian": "/usr/share/keyrings/debian-archive-keyring.gpg",
    "ubuntu": "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
}
CHUNK = 1 << 20


class SourceError(Exception):
    """A source that cannot be used, with the reason."""


def say(message):
    print("redis source: " + message, file=sys.stderr, flush=True)


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def extra_vars(row, path, sha256=""):
    values = {"redis_version": row["version"], "redis_source_url": path}
    if sha256:
        values["redis_source_sha256"] = sha256
    return json.dumps(values)


def given_source(rows, url, sha256, version):
    """The user's own source (REDIS_SOURCE): resolved, and checked now when it is a local file."""
    name = os.path.basename(url.split("?", 1)[0].rstrip("/"))
    known = next((r for r in rows if r["name"] == name), None)
    if not version:
        match = re.search(r"(\d+\.\d+\.\d+)", name)
        version = known["version"] if known else (match.group(1) if match else "")
    if not version:
        raise SourceError("cannot tell the version of %s from its name: set REDIS_VERSION" % url)
    sha256 = (sha256 or (known["sha256"] if known else "")).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise SourceError("no known SHA-256 for %s: set REDIS_SHA256 to its SHA-256, from a source you trust" % name
                          if not sha256 else "REDIS_SHA256 %s is not 64 hex digits" % sha256)
    if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        url = os.path.abspath(os.path.expanduser(url))
        if not os.path.isfile(url):
            raise SourceError("%s: no such file" % url)
        if sha256_of(url) != sha256:
            raise SourceError("%s does not have the SHA-256 %s" % (url, sha256))
    return {"version": version}, url, sha256


def from_cache(rows, cache):
    """The first table row whose file is in the cache with the table's checksum."""
    for row in rows:
        path = os.path.join(cache, row["name"])
        if os.path.isfile(path):
            if sha256_of(path) == row["sha256"]:
                return row, path
            say("ignoring %s: its SHA-256 is not the table's" % path)
    return None


def download(url, dest, timeout):
    """Fetch url into dest (through a temporary file: no half-written tarball is ever left)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, CHUNK)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise


def from_upstream(rows, version, cache, timeout):
    row = next((r for r in rows if str(r["version"]) == version and r.get("url")), None)
    if row is None:
        raise SourceError("the table has no upstream URL for version %s" % version)
    dest = os.path.join(cache, row["name"])
    say("downloading %s" % row["url"])
    try:
        download(row["url"], dest, timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError("upstream %s is unreachable: %s" % (row["url"], getattr(exc, "reason", exc)))
    if sha256_of(dest) != row["sha256"]:
        os.unlink(dest)
        raise SourceError("%s does not have upstream's SHA-256 %s (deleted)" % (row["url"], row["sha256"]))
    return row, dest


def os_release(path="/etc/os-release"):
    values = {}
    try:
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip('"\'')
    except OSError:
        pass
    return values


def distro_id(release):
    """debian or ubuntu (or an ID_LIKE of them), else the ID as is."""
    for candidate in [release.get("ID", "")] + release.get("ID_LIKE", "").split():
        if candidate in KEYRINGS:
            return candidate
    return release.get("ID", "")


def parse_deb822(text):
    """The stanzas of a deb822 file (*.sources) as dicts of lower-case keys."""
    stanzas, current = [], {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = {}
        elif line[0] in " \t" and current:
            continue  # a continuation line (e.g. an inline key): not needed here
        else:
            key, dummy, value = line.partition(":")
            current[key.strip().lower()] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def archive_uris(distro, etc="/etc/apt"):
    """URIs of the system's `deb` entries for the distribution's main archive (not security)."""
    uris = []
    for path in sorted(glob.glob(os.path.join(etc, "sources.list.d", "*.sources"))):
        try:
            with open(path) as handle:
                stanzas = parse_deb822(handle.read())
        except OSError:
            continue
        for stanza in stanzas:
            if "deb" in stanza.get("types", "").split() and stanza.get("enabled", "yes") != "no":
                uris += stanza.get("uris", "").split()
    for path in [os.path.join(etc, "sources.list")] + sorted(glob.glob(os.path.join(etc, "sources.list.d", "*.list"))):
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                uris.append(words[1])
    wanted = [u for u in uris if u.rstrip("/").endswith("/" + distro) and "security" not in u]
    return list(dict.fromkeys(wanted))


def parse_sources_stanzas(text):
    """Source stanzas (as printed by apt-cache showsrc): version and {file name: sha256}."""
    result = []
    for stanza in text.split("\n\n"):
        version, files, in_sums = "", {}, False
        for line in stanza.splitlines():
            if line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
            if line.startswith("Checksums-Sha256:"):
                in_sums = True
                continue
            if in_sums and line.startswith(" "):
                parts = line.split()
                if len(parts) == 3:
                    files[parts[2]] = parts[0]
                continue
            in_sums = False
        if version:
            result.append({"version": version, "files": files})
    return result


class PrivateApt:
    """apt-get / apt-cache with a state of their own under `root` (nothing system-wide)."""

    def __init__(self, root, uri, suite, keyring):
        self.root = root
        for sub in ("etc", "lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        with open(os.path.join(root, "etc", "ulhpc-demo.sources"), "w") as handle:
            handle.write("Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n"
                         % (uri, suite, keyring))
        user = os.environ.get("USER") or str(os.getuid())
        self.options = [
            "-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts=" + os.path.join(root, "etc"),
            "-o", "Dir::State::Lists=" + os.path.join(root, "lists"), "-o", "Dir::Cache=" + os.path.join(root, "cache"),
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=" + user,
        ]

    def run(self, tool, *args, cwd=None):
        return subprocess.run([tool] + self.options + list(args), capture_output=True, text=True, cwd=cwd, check=False)


def from_archive(rows, cache, mirror, release):
    distro = distro_id(release)
    candidates = [r for r in rows if r.get("apt") and r.get("distro") == distro]
    if not candidates:
        raise SourceError("the table knows no %s archive source (rows for: %s)"
                          % (distro or "unknown", ", ".join(sorted({r["distro"] for r in rows if r.get("apt")}))))
    if shutil.which("apt-get") is None:
        raise SourceError("apt-get is not installed")
    uris = [mirror] if mirror else archive_uris(distro)
    if not uris:
        raise SourceError("no %s archive in /etc/apt (set DEBIAN_MIRROR to its URL)" % distro)
    errors = []
    for row in candidates:
        package, dummy, suite = row["apt"].partition("/")
        for uri in uris:
            try:
                return row, fetch_from_archive(row, package, suite, uri, cache, KEYRINGS[distro])
            except SourceError as exc:
                errors.append("%s from %s: %s" % (row["apt"], uri, exc))
    raise SourceError("; ".join(errors))


def fetch_from_archive(row, package, suite, uri, cache, keyring):
    with tempfile.TemporaryDirectory(prefix="apt-", dir=cache) as root:
        apt = PrivateApt(root, uri, suite, keyring)
        say("reading the signed index of %s %s (apt, private state)" % (uri, suite))
        update = apt.run("apt-get", "update", "-q")
        if update.returncode != 0 or re.search(r"^(E:|W: GPG error|W: Failed)", update.stdout + update.stderr, re.M):
            raise SourceError("apt-get update failed: " + (update.stderr.strip() or update.stdout.strip())[-600:])
        show = apt.run("apt-cache", "showsrc", package)
        signed = {}
        for stanza in parse_sources_stanzas(show.stdout):
            signed.update(stanza["files"])
        if row["name"] not in signed:
            raise SourceError("%s is not in the archive's %s index (it has: %s)"
                              % (row["name"], suite, ", ".join(sorted(signed)) or "no %s" % package))
        if signed[row["name"]] != row["sha256"]:
            raise SourceError("the archive's signed index gives %s the SHA-256 %s, the table %s"
                              % (row["name"], signed[row["name"]], row["sha256"]))
        version = next(s["version"] for s in parse_sources_stanzas(show.stdout) if row["name"] in s["files"])
        say("downloading %s (%s %s)" % (row["name"], package, version))
        # apt checks every file against the index; the Debian part of an older revision may
        # be gone from a mirror while the orig tarball (the only file used) is there.
        apt.run("apt-get", "source", "--download-only", "-q", "%s=%s" % (package, version), cwd=root)
        got = os.path.join(root, row["name"])
        if not os.path.isfile(got) or sha256_of(got) != row["sha256"]:
            raise SourceError("apt-get source did not give %s with the SHA-256 %s" % (row["name"], row["sha256"]))
        dest = os.path.join(cache, row["name"])
        os.replace(got, dest)
        return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--from", dest="origin", choices=["auto", "upstream", "archive"], default="auto",
                        help="where to look after the cache (auto: upstream, then the archive)")
    parser.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                        "ulhpc-workspace"))
    parser.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR", ""),
                        help="the distribution archive's URL (default: the system's deb entry)")
    parser.add_argument("--timeout", type=float, default=20, help="network timeout in seconds")
    parser.add_argument("--url", default="", help="use this tarball (URL or path) instead")
    parser.add_argument("--sha256", default="", help="its SHA-256 (default: the table's for its name)")
    parser.add_argument("--version", default="", help="its version (default: from its name)")
    args = parser.parse_args(argv)

    rows = load_yaml(os.path.join(ROLE, "vars", "main.yml"))["__redis_known_sources"]
    for row in rows:
        row["version"], row["sha256"] = str(row["version"]), row["sha256"].lower()
    version = str(load_yaml(os.path.join(ROLE, "defaults", "main.yml"))["redis_version"])
    # Prefer the role's default version, then the table's order.
    rows.sort(key=lambda r: r["version"] != version)
    if args.url:
        try:
            print(extra_vars(*given_source(rows, args.url, args.sha256, args.version)))
        except SourceError as exc:
            print("error: REDIS_SOURCE=%s: %s" % (args.url, exc), file=sys.stderr)
            return 1
        return 0
    os.makedirs(args.cache, mode=0o700, exist_ok=True)

    found = from_cache(rows, args.cache)
    if found:
        say("using %s from the cache (SHA-256 checked)" % found[1])
        print(extra_vars(*found))
        return 0
    steps = {"auto": ["upstream", "archive"], "upstream": ["upstream"], "archive": ["archive"]}[args.origin]
    reasons = []
    for step in steps:
        try:
            if step == "upstream":
                found = from_upstream(rows, version, args.cache, args.timeout)
            else:
                found = from_archive(rows, args.cache, args.mirror, os_release())
        except SourceError as exc:
            reasons.append(str(exc))
            say(str(exc) + ("; trying the distribution's archive" if step != steps[-1] else ""))
            continue
        say("using %s (Valkey %s, SHA-256 %s checked)" % (found[1], found[0]["version"], found[0]["sha256"]))
        print(extra_vars(*found))
        return 0
    print("error: no verified Valkey source: %s.\nGive one: make demo REDIS_SOURCE=<URL or path> "
          "REDIS_SHA256=<its SHA-256> REDIS_VERSION=<its version>, or put a tarball the redis role's "
          "table knows (roles/redis/vars/main.yml) into %s." % ("; ".join(reasons), args.cache), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
