"""Fixtures of the slurm_job and slurm_job_info tests (a scripted run_command and clock)."""
import pytest

import slurm_harness


@pytest.fixture(name="clock")
def fixture_clock(monkeypatch):
    return slurm_harness.install_clock(monkeypatch)


@pytest.fixture(name="run_module")
def fixture_run_module(monkeypatch, tmp_path, clock):
    return slurm_harness.make_runner(monkeypatch, tmp_path, clock)
