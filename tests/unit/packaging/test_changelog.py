"""The changelog: fragments and changelogs/changelog.yaml pass antsibull-changelog's lint, and
CHANGELOG.rst is what antsibull-changelog generates from them (run it after a release)."""
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOL = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")


def run(*args, cwd=REPO):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, cwd=cwd, check=False)


def test_fragments_and_changes_file_lint_clean():
    for args in (("lint",), ("lint-changelog-yaml", os.path.join("changelogs", "changelog.yaml"))):
        proc = run(*args)
        assert proc.returncode == 0 and proc.stdout.strip() == "", (args, proc.stdout, proc.stderr)


def test_changelog_rst_is_generated_from_the_changes_file(tmp_path):
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(os.path.join(REPO, name), tmp_path / name)
    shutil.copytree(os.path.join(REPO, "changelogs"), tmp_path / "changelogs")
    proc = run("generate", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(REPO, "CHANGELOG.rst"), encoding="utf-8") as mine, \
            open(tmp_path / "CHANGELOG.rst", encoding="utf-8") as generated:
        assert mine.read() == generated.read(), "CHANGELOG.rst is stale: run antsibull-changelog generate"
    text = (tmp_path / "CHANGELOG.rst").read_text()
    for listed in ("slurm_job - Submit", "New Roles", "python_venv - A Python virtualenv", "New Playbooks"):
        assert listed in text, listed
