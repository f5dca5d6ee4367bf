# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mirror-source-package.py URI SUITE PACKAGE DEST

Copies the few files of a Debian archive that `apt-get update` + `apt-get source PACKAGE` need
for one suite's deb-src entry into DEST (same paths as on the archive): the signed InRelease,
main/source/Sources.xz (also under by-hash/, which apt asks for when the Release says
Acquire-By-Hash), and the package's files from the pool. The tests serve DEST on loopback, so
`make demo` reads "the distribution's archive" without any traffic leaving the machine; apt
checks the copy against Debian's signature exactly as it checks the real archive.
Nothing is verified here: the bytes are the archive's, and apt verifies them when it reads them.
"""
import lzma
import os
import re
import shutil
import sys
import urllib.error
import urllib.request


def fetch(uri, rel, dest):
    path = os.path.join(dest, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with urllib.request.urlopen(uri.rstrip("/") + "/" + rel, timeout=120) as response, open(path + ".part", "wb") as out:
        shutil.copyfileobj(response, out)
    os.replace(path + ".part", path)
    return path


def main(uri, suite, package, dest):
    inrelease = fetch(uri, "dists/%s/InRelease" % suite, dest)
    with open(inrelease) as handle:
        text = handle.read()
    sha_section = text.split("SHA256:", 1)[1]
    match = re.search(r"^ ([0-9a-f]{64}) +\d+ main/source/Sources\.xz$", sha_section, re.M)
    if not match:
        sys.exit("no main/source/Sources.xz in the SHA256 list of %s" % inrelease)
    sources = fetch(uri, "dists/%s/main/source/Sources.xz" % suite, dest)
    by_hash = os.path.join(os.path.dirname(sources), "by-hash", "SHA256", match.group(1))
    os.makedirs(os.path.dirname(by_hash), exist_ok=True)
    shutil.copyfile(sources, by_hash)
    with lzma.open(sources, "rt", encoding="utf-8", errors="replace") as handle:
        stanzas = handle.read().split("\n\n")
    wanted = [s for s in stanzas if re.search(r"^Package: %s$" % re.escape(package), s, re.M)]
    if not wanted:
        sys.exit("no source package %s in %s" % (package, suite))
    for stanza in wanted:
        directory = re.search(r"^Directory: (\S+)$", stanza, re.M).group(1)
        files = re.search(r"^Checksums-Sha256:\n((?: .*\n?)+)", stanza, re.M).group(1)
        for line in files.splitlines():
            name = line.split()[2]
            try:
                fetch(uri, directory + "/" + name, dest)
            except urllib.error.HTTPError as exc:
                # The archive itself can lack a newer revision's Debian part (seen: 404) while
                # the orig tarball, the only file the tests use, is there.
                if ".orig." in name:
                    raise
                print("skipped %s: %s" % (name, exc), file=sys.stderr)
    # Written last: the testbed task re-runs this script until the copy is whole.
    with open(os.path.join(dest, ".complete-%s-%s" % (suite, package)), "w"):
        pass
    print("mirrored %s %s (%d stanza(s)) into %s" % (suite, package, len(wanted), dest))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
