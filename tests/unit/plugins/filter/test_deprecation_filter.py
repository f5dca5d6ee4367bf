"""deprecated_alias: the old name's value passes through, with a warning only when it is set."""
from ansible_collections.ulhpc.workspace.plugins.filter import deprecation


def test_warns_only_for_a_set_value(monkeypatch):
    said = []

    class FakeDisplay(object):
        def deprecated(self, msg, version=None, collection_name=None, **kwargs):
            said.append((msg, version, collection_name))

    monkeypatch.setattr(deprecation, "Display", FakeDisplay)
    assert deprecation.deprecated_alias({}, "redis_slurm_options", "redis_slurm") == {}
    assert deprecation.deprecated_alias("", "workspace_slurm_qos", "workspace_slurm.qos") == ""
    assert said == []
    assert deprecation.deprecated_alias({"mem": "2G"}, "redis_slurm_options", "redis_slurm") == {"mem": "2G"}
    assert said == [("The variable redis_slurm_options is deprecated, set redis_slurm instead (same values)",
                     "0.3.0", "ulhpc.workspace")]
    assert deprecation.FilterModule().filters()["deprecated_alias"] is deprecation.deprecated_alias
