"""SlurmClient waiting: adaptive polling, one query per poll, ready files."""
import json

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_client as client_mod

from fake_clock import FakeClock


class FakeModule(object):
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def get_bin_path(self, name, required=False):
        return None if name == "sacct" else "/usr/bin/" + name

    def run_command(self, argv, **kwargs):
        self.calls.append(argv)
        if argv[-1] == "--version":
            return 0, "slurm 22.05.8\n", ""
        return self.answer(argv)


def pending(ids):
    return json.dumps({"jobs": [{"job_id": int(i), "array_job_id": 0, "name": "x", "user_name": "u",
                                 "job_state": "PENDING", "state_reason": "Priority"} for i in ids]})


def test_one_query_per_poll_for_ten_jobs_and_backoff():
    ids = [str(i) for i in range(100, 110)]
    module = FakeModule(lambda argv: (0, pending(ids), ""))
    clock = FakeClock()
    client = client_mod.SlurmClient(module, clock=clock, sleep=clock.sleep)
    res = client.wait(ids, lambda jobs: False, 60, 5.0)
    assert res.timed_out and not res.done and len(res.jobs) == 10
    # at 0, 0.2, 0.7, 1.95, 5.08, then every 5 s until 60 s: at most 15 in the first minute
    assert client.queries == 15
    assert all(argv == ["/usr/bin/squeue", "--json"] for argv in module.calls[1:])
    assert res.jobs["105"]["reason"] == "Priority"


def test_steady_rate_is_poll_interval():
    module = FakeModule(lambda argv: (0, pending(["1"]), ""))
    clock = FakeClock()
    client = client_mod.SlurmClient(module, clock=clock, sleep=clock.sleep)
    client.wait(["1"], lambda jobs: False, 600, 5.0)
    assert 600 / 5 <= client.queries <= 600 / 5 + 6


def test_timeout_zero_checks_once():
    module = FakeModule(lambda argv: (0, pending(["1"]), ""))
    clock = FakeClock()
    client = client_mod.SlurmClient(module, clock=clock, sleep=clock.sleep)
    res = client.wait(["1"], lambda jobs: False, 0, 5.0)
    assert res.timed_out and client.queries == 1 and clock.sleeps == []


def test_ready_file_checks_are_not_queries(tmp_path):
    ready = tmp_path / "r.json"
    module = FakeModule(lambda argv: (0, json.dumps({"jobs": [{"job_id": 7, "job_state": "RUNNING"}]}), ""))
    clock = FakeClock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now >= 2.0 and not ready.exists():
            ready.write_text('{"job_id": "7", "port": 1}')

    client = client_mod.SlurmClient(module, clock=clock, sleep=sleep)
    res = client.wait(["7"], lambda jobs: False, 60, 5.0, ready_file=str(ready))
    assert res.ready_found and res.ready == {"job_id": "7", "port": 1}
    assert res.jobs["7"]["state"] == "RUNNING"
    assert client.queries == 4  # polls at 0, 0.2, 0.7, 1.95; the last (RUNNING) answer is reused
    assert 2.0 <= res.waited <= 2.06


def test_stale_ready_file_is_ignored(tmp_path):
    ready = tmp_path / "r.json"
    ready.write_text('{"job_id": "6"}')
    assert client_mod.read_ready_file(str(ready), ["7"]) == (False, None)
    assert client_mod.read_ready_file(str(ready), ["6"]) == (True, {"job_id": "6"})
    ready.write_text("")
    assert client_mod.read_ready_file(str(ready), ["7"]) == (False, None)
    assert client_mod.read_ready_file(str(tmp_path / "missing"), ["7"]) == (False, None)


def test_read_tail(tmp_path):
    path = tmp_path / "log"
    path.write_text("".join("%d\n" % i for i in range(100)))
    assert client_mod.read_tail(str(path), 3) == ["97", "98", "99"]
    assert client_mod.read_tail(str(tmp_path / "none")) == []


def test_json_errors_without_controller_are_unreachable_not_a_fallback():
    down = json.dumps({"errors": [{"description": "Failed while looking for jobs"}], "jobs": []})
    module = FakeModule(lambda argv: (0, down, ""))
    client = client_mod.SlurmClient(module, clock=FakeClock(), sleep=lambda s: None)
    try:
        client.squeue()
    except client_mod.SlurmUnreachable as exc:
        assert "Failed while looking for jobs" in str(exc)
    else:
        raise AssertionError("no SlurmUnreachable")
    assert client.use_json()


def test_unsupported_json_falls_back_to_text():
    def answer(argv):
        if "--json" in argv:
            return 1, "", "squeue: unrecognized option '--json'\n"
        return 0, "", ""
    module = FakeModule(answer)
    client = client_mod.SlurmClient(module, clock=FakeClock(), sleep=lambda s: None)
    client._version = (21, 8, 1)
    assert client.squeue(user="u") == []
    assert not client.use_json() and module.calls[-1][1] == "--noheader" and client.queries == 2
