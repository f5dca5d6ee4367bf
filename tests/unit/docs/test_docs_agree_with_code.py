"""The README and role docs must agree with the code: role specs, defaults, the runner example."""
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES_DIR = os.path.join(REPO, "roles")


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _roles():
    return sorted(r for r in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, r)))


@pytest.mark.parametrize("role", _roles())
def test_defaults_equal_argument_specs(role):
    specs = _load(os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml"))["argument_specs"]
    options = {}
    for entry_point in specs.values():
        options.update(entry_point.get("options", {}))
    defaults_path = os.path.join(ROLES_DIR, role, "defaults", "main.yml")
    defaults = _load(defaults_path) if os.path.exists(defaults_path) else {}
    public = {name for name in defaults if not name.startswith("__")}
    assert public <= set(options), f"{role}: defaults without argument spec: {sorted(public - set(options))}"
    for name in public:
        assert name.startswith(role + "_") or role == "testbed" and name.startswith("testbed_"), \
            f"{role}: variable {name} lacks the role prefix"
        spec = options[name]
        if "default" in spec:
            assert spec["default"] == defaults[name], f"{role}: {name} default differs: spec {spec['default']!r} vs defaults {defaults[name]!r}"
        assert spec.get("description"), f"{role}: {name} has no description"


def test_readme_role_variables_are_current():
    proc = subprocess.run([sys.executable, os.path.join(REPO, "docs", "render_role_variables.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_readme_shows_the_tested_runner_example():
    """The README's ansible-runner example is the function the integration test runs."""
    with open(os.path.join(REPO, "docs", "examples", "runner_example.py"), encoding="utf-8") as handle:
        example = handle.read()
    function = example[example.index("def provision("):example.index("\n\n\ndef main")]
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        assert function in handle.read()


def test_readme_tables_render_ansible_markup_as_markdown():
    sys.path.insert(0, os.path.join(REPO, "docs"))
    try:
        from render_role_variables import markdown
    finally:
        sys.path.pop(0)
    assert markdown("Empty means C(Python (ulhpc <name>)); see O(x=y) and V(false).") == \
        "Empty means `Python (ulhpc <name>)`; see `x=y` and `false`."
    assert markdown("Like O(ulhpc.workspace.ipcluster#role:main:ipcluster_profile), I(once), B(never).") == \
        "Like `ipcluster_profile`, *once*, **never**."
    assert markdown("L(the docs,https://example.org/a) or U(https://example.org/b); RV(ready) of M(ns.c.m)") == \
        "[the docs](https://example.org/a) or <https://example.org/b>; `ready` of `ns.c.m`"
    assert markdown("ipp.Client() and ABC(x) stay") == "ipp.Client() and ABC(x) stay"
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    tables = readme[readme.index("<!-- ROLE-VARIABLES"):readme.index("<!-- /ROLE-VARIABLES -->")]
    for marker in ("C(", "O(", "V(", "I("):
        assert " " + marker not in tables and "(" + marker not in tables, marker


def test_reliability_table_names_tests_that_exist():
    """RELIABILITY.md's observed column comes from tests: each test it names must exist."""
    import re
    with open(os.path.join(REPO, "RELIABILITY.md"), encoding="utf-8") as handle:
        text = handle.read()
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)", text)
    assert len(named) >= 5, named
    for path, name in named:
        with open(os.path.join(REPO, path), encoding="utf-8") as handle:
            assert re.search(r"^def %s\(" % name, handle.read(), re.M), "%s::%s is gone" % (path, name)
