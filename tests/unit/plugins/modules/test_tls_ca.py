"""tls_ca: one CA, key 0600, honest check mode, clear errors; certificates verify with ssl."""
import os

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils import _tls
from ansible_collections.ulhpc.workspace.plugins.modules import tls_ca

from module_harness import file_mode as mode, module_runner


@pytest.fixture
def run(monkeypatch):
    return module_runner(monkeypatch, tls_ca.main)


def test_creates_the_ca_once_with_a_private_key(run, tmp_path):
    path = tmp_path / "tls"
    first = run({"path": str(path)})
    assert first["changed"] and first["created"]
    assert mode(path) == 0o700 and mode(path / "ca.key") == 0o600
    assert len(first["fingerprint_sha256"].split(":")) == 32
    assert first["fingerprint_sha256"] in first["trust_hint"]
    assert "BEGIN" not in repr(first)  # the key is never returned
    second = run({"path": str(path)})
    assert not second["changed"] and second["fingerprint_sha256"] == first["fingerprint_sha256"]


def test_check_mode_reports_and_writes_nothing(run, tmp_path):
    result = run({"path": str(tmp_path / "tls")}, check=True)
    assert result["changed"] and result["created"] and result["fingerprint_sha256"] is None
    assert not (tmp_path / "tls").exists()


def test_a_readable_key_is_refused(run, tmp_path):
    path = tmp_path / "tls"
    run({"path": str(path)})
    os.chmod(str(path / "ca.key"), 0o644)
    result = run({"path": str(path)})
    assert result["failed"] and "0600" in result["msg"] and "leaked" in result["msg"]


def test_a_half_present_ca_is_refused(run, tmp_path):
    path = tmp_path / "tls"
    run({"path": str(path)})
    os.unlink(str(path / "ca.crt"))
    result = run({"path": str(path)})
    assert result["failed"] and "incomplete" in result["msg"]


def test_pem_fingerprint_matches_ssl(tmp_path):
    import hashlib
    import ssl
    pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"
    assert _tls.pem_fingerprint(pem) == ":".join("%02X" % b for b in hashlib.sha256(b"\x00\x01\x02").digest())
    assert _tls.pem_fingerprint("no certificate") is None
    assert ssl.PEM_cert_to_DER_cert(pem) == b"\x00\x01\x02"


def test_argv_is_a_list_without_secrets():
    argv = _tls.cert_argv("/usr/bin/openssl", "/k", "/c", "my/CA", 10)
    assert argv[:3] == ["/usr/bin/openssl", "req", "-x509"] and "/CN=my_CA/O=ulhpc.workspace" in argv
    assert "basicConstraints=critical,CA:TRUE,pathlen:0" in argv
    assert _tls.key_argv("openssl", "/k")[-2:] == ["-out", "/k"]


def test_directories_are_made_private_in_the_same_call(run, tmp_path):
    ws = tmp_path / "ws"
    dirs = [str(ws / "secrets"), str(ws / "run")]
    checked = run({"path": str(tmp_path / "tls"), "directories": dirs}, check=True)
    assert checked["changed"] and checked["changed_paths"] and not ws.exists()
    made = run({"path": str(tmp_path / "tls"), "directories": dirs})
    assert made["changed"] and made["created"] and set(dirs) <= set(made["changed_paths"])
    assert all(mode(path) == 0o700 for path in dirs)
    os.chmod(dirs[1], 0o755)
    fixed = run({"path": str(tmp_path / "tls"), "directories": dirs})
    assert fixed["changed"] and not fixed["created"] and fixed["changed_paths"] == [dirs[1]] and mode(dirs[1]) == 0o700
    again = run({"path": str(tmp_path / "tls"), "directories": dirs})
    assert not again["changed"] and again["changed_paths"] == []


def test_a_bad_directory_changes_nothing(run, tmp_path):
    (tmp_path / "file").write_text("x")
    in_the_way = run({"path": str(tmp_path / "tls"), "directories": [str(tmp_path / "file")]})
    assert in_the_way["failed"] and "nothing was changed" in in_the_way["msg"]
    relative = run({"path": str(tmp_path / "tls"), "directories": ["ws/run"]})
    assert relative["failed"] and "not an absolute path" in relative["msg"]
    assert not (tmp_path / "tls").exists()
