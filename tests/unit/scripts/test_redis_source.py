"""scripts/redis_source.py: which Valkey tarball `make demo` accepts, and from where."""
import hashlib
import importlib.util
import json
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                      "scripts", "redis_source.py")
spec = importlib.util.spec_from_file_location("redis_source", SCRIPT)
rs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rs)

DATA = b"not really a tarball"
SHA = hashlib.sha256(DATA).hexdigest()


def rows(url=""):
    return [{"version": "8.1.9", "name": "8.1.9.tar.gz", "url": url, "sha256": SHA},
            {"version": "8.1.1", "name": "valkey_8.1.1+dfsg1.orig.tar.xz", "url": "", "sha256": "d" * 64,
             "distro": "debian", "apt": "valkey/trixie"}]


def test_the_system_archive_is_the_main_deb_entry(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "# Types: deb\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n")
    (tmp_path / "sources.list").write_text(
        "deb [signed-by=/k.gpg arch=amd64] http://old.example/debian bookworm main  # comment\n"
        "deb https://packages.cloud.example/apt cloud main\n")
    assert rs.archive_uris("debian", etc=str(tmp_path)) == ["http://mirror.example/debian", "http://old.example/debian"]
    assert rs.archive_uris("ubuntu", etc=str(tmp_path)) == []


def test_distro_from_os_release(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('ID=linuxmint\nID_LIKE="ubuntu debian"\n')
    assert rs.distro_id(rs.os_release(str(path))) == "ubuntu"
    assert rs.distro_id({"ID": "debian"}) == "debian"


def test_signed_checksums_of_a_source_stanza():
    text = ("Package: valkey\nVersion: 8.1.1+dfsg1-3\nChecksums-Sha256:\n"
            " aa 10 valkey_8.1.1+dfsg1-3.dsc\n bb 20 valkey_8.1.1+dfsg1.orig.tar.xz\nFormat: 3.0\n\n"
            "Package: valkey\nVersion: 8.0.1+dfsg1-1\nChecksums-Sha256:\n cc 30 valkey_8.0.1+dfsg1.orig.tar.xz\n")
    stanzas = rs.parse_sources_stanzas(text)
    assert stanzas[0] == {"version": "8.1.1+dfsg1-3",
                          "files": {"valkey_8.1.1+dfsg1-3.dsc": "aa", "valkey_8.1.1+dfsg1.orig.tar.xz": "bb"}}
    assert stanzas[1]["files"] == {"valkey_8.0.1+dfsg1.orig.tar.xz": "cc"}


def test_a_given_local_tarball_is_checked_before_the_playbook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "valkey-7.2.5.tar.gz").write_bytes(DATA)
    row, url, sha = rs.given_source(rows(), "valkey-7.2.5.tar.gz", SHA.upper(), "")
    assert (row["version"], url, sha) == ("7.2.5", str(tmp_path / "valkey-7.2.5.tar.gz"), SHA)
    with pytest.raises(rs.SourceError, match="does not have the SHA-256"):
        rs.given_source(rows(), "valkey-7.2.5.tar.gz", "0" * 64, "")
    with pytest.raises(rs.SourceError, match="no known SHA-256 for valkey-7.2.5.tar.gz: set REDIS_SHA256"):
        rs.given_source(rows(), "valkey-7.2.5.tar.gz", "", "")
    with pytest.raises(rs.SourceError, match="no such file"):
        rs.given_source(rows(), "missing-8.1.9.tar.gz", SHA, "")
    # A name of the table: its checksum and version; a URL is checked by the role when it downloads.
    assert rs.given_source(rows(), "https://m.example/8.1.9.tar.gz", "", "")[1:] == ("https://m.example/8.1.9.tar.gz", SHA)
    with pytest.raises(rs.SourceError, match="cannot tell the version"):
        rs.given_source(rows(), "https://m.example/latest.tgz", SHA, "")


def test_upstream_download_is_verified(tmp_path):
    source = tmp_path / "8.1.9.tar.gz"
    source.write_bytes(DATA)
    cache = tmp_path / "cache"
    cache.mkdir()
    row, path = rs.from_upstream(rows(source.as_uri()), "8.1.9", str(cache), 5)
    assert path == str(cache / "8.1.9.tar.gz") and row["version"] == "8.1.9"
    source.write_bytes(DATA + b"!")
    os.unlink(path)
    with pytest.raises(rs.SourceError, match="does not have upstream's SHA-256"):
        rs.from_upstream(rows(source.as_uri()), "8.1.9", str(cache), 5)
    assert os.listdir(cache) == []  # nothing half-written or wrong is left
    with pytest.raises(rs.SourceError, match="unreachable"):
        rs.from_upstream(rows((tmp_path / "nope.tar.gz").as_uri()), "8.1.9", str(cache), 5)


def run_main(monkeypatch, capsys, tmp_path, argv, table):
    monkeypatch.setattr(rs, "load_yaml", lambda path: {"__redis_known_sources": table}
                        if path.endswith(os.path.join("vars", "main.yml")) else {"redis_version": "8.1.9"})
    code = rs.main(["--cache", str(tmp_path / "cache")] + argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_auto_tries_upstream_then_the_archive_then_says_what_to_do(monkeypatch, capsys, tmp_path):
    def no_archive(*args):
        raise rs.SourceError("the archive said no")
    monkeypatch.setattr(rs, "from_archive", no_archive)
    code, out, err = run_main(monkeypatch, capsys, tmp_path, [], rows((tmp_path / "nope.tar.gz").as_uri()))
    assert code == 1 and out == ""
    assert "unreachable" in err and "trying the distribution's archive" in err and "the archive said no" in err
    assert "make demo REDIS_SOURCE=" in err


def test_the_cache_answers_first(monkeypatch, capsys, tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "8.1.9.tar.gz").write_bytes(DATA)
    monkeypatch.setattr(rs, "from_upstream", lambda *a: pytest.fail("no network when the cache has it"))
    code, out, err = run_main(monkeypatch, capsys, tmp_path, [], rows())
    assert code == 0 and json.loads(out) == {"redis_version": "8.1.9",
                                             "redis_source_url": str(tmp_path / "cache" / "8.1.9.tar.gz")}
    assert "from the cache (SHA-256 checked)" in err


def test_archive_only_needs_a_row_for_this_distribution(monkeypatch, tmp_path):
    with pytest.raises(rs.SourceError, match="knows no ubuntu archive source"):
        rs.from_archive(rows(), str(tmp_path), "", {"ID": "ubuntu"})
