"""The one table of sbatch options drives slurm_job's spec, argv and fingerprint, the launcher's
keys and the *_slurm filters: this ties them together."""
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import slurm as slurm_filters
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as table
from ansible_collections.ulhpc.workspace.plugins.modules import slurm_job
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_job as slurm_job_utils
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_job_batch as slurm_job_batch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def test_module_spec_and_docs_hold_every_option_with_its_type():
    doc = yaml.safe_load(slurm_job.DOCUMENTATION)["options"]
    spec = table.argument_spec()
    for option in table.OPTIONS:
        assert spec[option.key]["type"] == option.kind
        assert doc[option.key]["type"] == option.kind, option.key
        if option.flag:
            assert option.flag in doc[option.key]["description"] if isinstance(doc[option.key]["description"], str) \
                else option.flag in " ".join(doc[option.key]["description"])
    assert set(slurm_job_utils.FINGERPRINT_KEYS) == set(spec) | set(table.FINGERPRINT_EXTRA)


def test_launcher_passes_the_whole_placement_and_a_job_takes_every_key():
    """The launcher gives each job its plan's slurm dict whole (the placement merged over the
    workspace's), and a job of slurm_job's option jobs may set every placement key."""
    with open(os.path.join(REPO, "roles/launcher/vars/main.yml")) as handle:
        jobs = yaml.safe_load(handle)["__launcher_jobs"]
    assert "combine(continuation, item.slurm)" in jobs
    assert set(table.PLACEMENT_KEYS) <= set(slurm_job_batch.JOB_KEYS)


def test_workspace_docs_name_every_placement_key():
    with open(os.path.join(REPO, "roles/workspace/meta/argument_specs.yml")) as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["workspace_slurm"]
    text = " ".join(spec["description"])
    for key in table.PLACEMENT_KEYS:
        assert "C(%s)" % key in text, key


def test_argv_follows_the_table_and_skips_unset_values():
    params = {"partition": "batch", "time": "1:00:00", "exclusive": True, "gpus": "1", "mem": "",
              "ntasks": None, "extra_args": ["--begin=now+60"], "output": "/tmp/x.log"}
    assert table.sbatch_args(params) == ["--partition=batch", "--time=1:00:00", "--gpus=1", "--output=/tmp/x.log",
                                         "--exclusive", "--begin=now+60"]


def test_new_options_leave_old_fingerprints_alone():
    old_style = dict((o.key, None) for o in table.OPTIONS if o.since == 0)
    old_style.update(exclusive=False, extra_args=[], chdir="/h", comment=None, environment={})
    params = dict(old_style, reservation=None, gpus=None)
    assert table.fingerprint_options(params) == old_style
    assert table.fingerprint_options(dict(params, reservation="course"))["reservation"] == "course"


@pytest.mark.parametrize("settings, message", [
    ({"partiton": "batch"}, "workspace_slurm: unknown Slurm option partiton (known: partition, account"),
    ({"time": "2h"}, "invalid time '2h': expected a time limit such as 30, 2:00:00"),
    ({"mem": "lots"}, "invalid mem 'lots': expected a size such as 4G"),
    ({"cpus_per_task": "two"}, "workspace_slurm.cpus_per_task must be a whole number, got 'two'"),
    ({"gpus": "many"}, "invalid gpus 'many'"),
    ({"reservation": "a b"}, "invalid reservation 'a b'"),
    ({"constraint": "x;rm"}, "invalid constraint 'x;rm'"),
    ({"extra_args": "--begin=now"}, "extra_args must be a list of strings"),
    ({"extra_args": ["--job-name=x"]}, "extra_args must not contain --job-name"),
    ({"extra_args": ["--begin=now\n#SBATCH --x"]}, "contains a newline"),
    ({"output": "/tmp/x"}, "unknown Slurm option output"),
    # A trailing newline passes a pattern ending in $ with re.match; the whole value must match.
    ({"time": "01:00:00\n"}, "invalid time"),
    ({"partition": "batch\n"}, "invalid partition"),
])
def test_placement_errors_are_specific(settings, message):
    errors = slurm_filters.slurm_placement_errors(settings, "workspace_slurm")
    assert any(message in e for e in errors), errors


def test_placement_accepts_good_settings_and_merges_layers():
    good = {"partition": "batch", "account": "p_x", "qos": "normal", "reservation": "course", "time": "1-12:00:00",
            "nodes": "1", "ntasks": 2, "cpus_per_task": "4", "mem": "4G", "gres": "gpu:1", "gpus": "volta:2",
            "constraint": "skylake|broadwell", "exclusive": True, "extra_args": ["--begin=now+60"]}
    assert slurm_filters.slurm_placement_errors(good, "x") == []
    assert slurm_filters.slurm_placement_errors("batch", "x")[0].startswith("x must be a dict")
    merged = slurm_filters.slurm_placement([{"time": "02:00:00", "partition": "batch"}, {"mem": "1G"},
                                            {"partition": "", "time": "4:00:00"}])
    assert merged == {"time": "4:00:00", "mem": "1G"}
    # A role's own merge keeps its removals, so the launcher's merge drops the workspace's value.
    role = slurm_filters.slurm_placement([{"mem": "1G"}, {"time": "", "mem": "2G"}], keep_unset=True)
    assert role == {"mem": "2G", "time": ""}
    assert slurm_filters.slurm_placement([{"time": "02:00:00", "partition": "gpu"}, role]) == {
        "partition": "gpu", "mem": "2G"}
    with pytest.raises(AnsibleFilterError, match="not a dict"):
        slurm_filters.slurm_placement([{"a": 1}, "b"])


def test_sbatch_args_filter_refuses_what_sbatch_would_refuse():
    assert slurm_filters.sbatch_args({"partition": "gpu", "gpus": "1"}) == ["--partition=gpu", "--gpus=1"]
    with pytest.raises(AnsibleFilterError, match="unknown Slurm option"):
        slurm_filters.sbatch_args({"queue": "gpu"})
