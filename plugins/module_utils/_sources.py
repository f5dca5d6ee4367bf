# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which source tarball to build, and the checksum it must have (the redis role's table).

A version can come from more than one place with different bytes: Debian repacks upstream
tarballs (``+dfsg``), so its checksum is not upstream's. The table therefore keys a checksum by
version *and* file name, and a tarball whose name the table does not know needs an explicit
checksum.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath


def _basename(url):
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return posixpath.basename(path)


def pick_source(known, version, url="", sha256=""):
    """Resolve (url, sha256) of `version` from the table `known` and the user's settings.

    known: list of dicts with version, name, url (may be empty: no public download) and sha256.
    Returns {"url", "sha256", "name", "origin", "error"}; error is "" or what to fix.
    """
    rows = [row for row in known or [] if str(row.get("version")) == str(version)]
    result = {"url": url or "", "sha256": (sha256 or "").lower(), "name": "", "origin": "", "error": ""}
    if not result["url"]:
        downloadable = [row for row in rows if row.get("url")]
        if not downloadable:
            result["error"] = ("redis_source_url is empty and version %s has no known download URL: set "
                               "redis_source_url (and redis_source_sha256), or use a version of the table: %s"
                               % (version, ", ".join(sorted({str(r["version"]) for r in known or [] if r.get("url")}))))
            return result
        result["url"] = downloadable[0]["url"]
    result["name"] = _basename(result["url"])
    match = [row for row in rows if row.get("name") == result["name"]]
    if match:
        result["origin"] = match[0].get("origin", "")
        if not result["sha256"]:
            result["sha256"] = match[0]["sha256"].lower()
    elif not result["sha256"]:
        result["error"] = ("no known checksum for %s (version %s): set redis_source_sha256 to its SHA-256, "
                           "taken from a source you trust" % (result["name"] or result["url"], version))
    return result
