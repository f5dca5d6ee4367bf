"""_tree_digest: what makes a local package's copy in the venv stale, and what does not."""
import os

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils._tree_digest import tree_digest, tree_files


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "pkg"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    return root


def test_the_files_that_count_are_sorted_and_relative(project):
    (project / "pkg" / "__pycache__").mkdir()
    (project / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (project / "pkg.egg-info").mkdir()
    (project / "pkg.egg-info" / "PKG-INFO").write_text("x")
    (project / "build" / "lib").mkdir(parents=True)
    (project / "build" / "lib" / "copy.py").write_text("x")
    assert tree_files(str(project)) == ["pkg/__init__.py", "pyproject.toml"]


def test_caches_and_build_output_leave_the_digest_alone(project):
    before = tree_digest(str(project))
    (project / "pkg" / "__pycache__").mkdir()
    (project / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (project / "dist").mkdir()
    (project / "dist" / "pkg.tar.gz").write_bytes(b"\1")
    assert tree_digest(str(project)) == before


@pytest.mark.parametrize("change", ["content", "new file", "rename", "mode"])
def test_a_source_change_changes_the_digest(project, change):
    before = tree_digest(str(project))
    module = project / "pkg" / "__init__.py"
    if change == "content":
        module.write_text("VALUE = 2\n")
    elif change == "new file":
        (project / "pkg" / "extra.py").write_text("")
    elif change == "rename":
        module.rename(project / "pkg" / "main.py")
    else:
        os.chmod(module, 0o755)
    assert tree_digest(str(project)) != before


def test_the_same_tree_elsewhere_has_the_same_digest(project, tmp_path):
    other = tmp_path / "elsewhere" / "pkg"
    (other / "pkg").mkdir(parents=True)
    (other / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    (other / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    assert tree_digest(str(other)) == tree_digest(str(project))


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        tree_digest(str(tmp_path / "nope"))
