"""source_pick: URL and checksum by version and file name; clear errors otherwise."""
from ansible_collections.ulhpc.workspace.plugins.filter.sources import source_pick

KNOWN = [
    {"version": "8.1.9", "name": "valkey-8.1.9.tar.gz", "sha256": "AA" * 32,
     "url": "https://example.org/archive/refs/tags/8.1.9.tar.gz".replace("8.1.9.tar.gz", "valkey-8.1.9.tar.gz")},
    {"version": "8.1.1", "name": "valkey_8.1.1+dfsg1.orig.tar.xz", "sha256": "bb" * 32, "url": "", "origin": "debian"},
]


def test_default_url_and_checksum_come_from_the_table():
    got = source_pick(KNOWN, "8.1.9")
    assert got["url"].endswith("/valkey-8.1.9.tar.gz") and got["sha256"] == "aa" * 32 and not got["error"]


def test_a_local_file_known_by_name_gets_its_own_checksum():
    got = source_pick(KNOWN, "8.1.1", "/var/cache/x/valkey_8.1.1+dfsg1.orig.tar.xz")
    assert got["sha256"] == "bb" * 32 and got["origin"] == "debian" and not got["error"]


def test_an_unknown_file_needs_a_checksum_and_a_given_one_wins():
    got = source_pick(KNOWN, "8.1.9", "https://mirror/valkey-8.1.9-other.tar.gz")
    assert "set redis_source_sha256" in got["error"]
    given = source_pick(KNOWN, "8.1.9", "/tmp/valkey-8.1.9.tar.gz", "CC" * 32)
    assert given["sha256"] == "cc" * 32 and not given["error"]


def test_a_version_without_download_url_says_what_to_set():
    got = source_pick(KNOWN, "8.1.1")
    assert "redis_source_url is empty" in got["error"] and "8.1.9" in got["error"]
    assert "no known download URL" in source_pick(KNOWN, "9.9.9")["error"]


def test_the_role_default_is_a_maintained_valkey_pinned_by_its_upstream_checksum():
    """roles/redis: the default version resolves to upstream's tarball and upstream's SHA-256
    (valkey-io/valkey-hashes: valkey-8.1.9.tar.gz), not to a Debian repack."""
    import os
    import yaml
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    with open(os.path.join(repo, "roles", "redis", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    with open(os.path.join(repo, "roles", "redis", "vars", "main.yml")) as handle:
        known = yaml.safe_load(handle)["__redis_known_sources"]
    got = source_pick(known, defaults["redis_version"], defaults["redis_source_url"], defaults["redis_source_sha256"])
    assert defaults["redis_version"] == "8.1.9" and not got["error"]
    assert got["url"] == "https://github.com/valkey-io/valkey/archive/refs/tags/8.1.9.tar.gz"
    assert got["sha256"] == "f7e927534aaeb3a5f4410375c3e6f2f0c1b9257db8bc573e68f9e2dbb11344f4"
    debian = source_pick(known, "8.1.1", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
    assert debian["sha256"] == "d9bbd82eecb82f359e649a0007ad3dc1b47cc15afa626348ca86b73c4ae2c7ee"
