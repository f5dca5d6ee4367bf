"""The fullmatch filter: the whole value, with no trailing newline let through."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import text


@pytest.mark.parametrize("value, pattern, expected", [
    ("demo", "[a-z]{1,40}", True),
    ("demo\n", "[a-z]{1,40}", False),
    ("demo\n", "^[a-z]{1,40}$", False),
    ("de mo", "[a-z]{1,40}", False),
    ("", "([a-z]+)?", True),
    (8022, "[0-9]+", True),
    ("8022 ", "[0-9]+", False),
])
def test_fullmatch(value, pattern, expected):
    assert text.FilterModule().filters()["fullmatch"](value, pattern) is expected


def test_a_bad_pattern_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="fullmatch: bad pattern"):
        text.fullmatch("x", "[")
