"""The hostlist_expand and job_port filters."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import slurm


def test_filters_are_registered():
    filters = slurm.FilterModule().filters()
    assert filters["hostlist_expand"]("node[01-03,07]") == ["node01", "node02", "node03", "node07"]
    assert filters["hostlist_expand"]("a[1-2],b3") == ["a1", "a2", "b3"]
    assert filters["job_port"]("1234") == 64234
    assert filters["job_port"](1234, base=20000, span=500) == 20234


def test_errors_are_filter_errors():
    with pytest.raises(AnsibleFilterError, match="hostlist_expand"):
        slurm.hostlist_expand("node[1-")
    with pytest.raises(AnsibleFilterError, match="integer job id"):
        slurm.job_port("abc")
