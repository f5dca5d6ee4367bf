# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One name for the Slurm helpers, which live in three files by what they hold:
_slurm_values (states, numbers, times, host lists, exit codes), _slurm_jobs (the normalised
job, its fingerprint, output paths and array merge) and _slurm_parsers (what the commands
print). Modules and filters import ``_slurm as slurm``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_values import (
    ACTIVE_STATES, FINISHED_STATES, STATE_CODES, SlurmParseError, SlurmReportedError,
    UNLIMITED_WORDS, epoch_to_iso, exit_from_json, expand_hostlist, format_duration, is_active,
    is_finished, iso_to_epoch, job_order, job_port, normalize_state, parse_duration, parse_exit_code_text,
    parse_time_limit, slurm_num, slurm_str, slurm_time, time_limit_text)
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_jobs import (
    FINGERPRINT_PREFIX, JOB_KEYS, JOB_NAME_RE, base_job_id, blank_job, default_output_path,
    expand_output_pattern, fingerprint, finish_paths, group_jobs, make_comment, merge_array,
    public_job, set_pending_times, split_comment, time_left, with_elapsed)
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_parsers import (
    INVALID_JOB_ERRORS, JSON_COLUMNS, NO_ACCOUNTING_ERRORS, SACCT_FIELDS, SACCT_FORMAT, SOURCES,
    SQUEUE_TEXT_FIELDS, SQUEUE_TEXT_FORMAT, SQUEUE_TEXT_SEP, Source, TRANSIENT_ERRORS,
    is_invalid_job_error, is_no_accounting_error, is_transient_error, parse_sacct,
    parse_sbatch_output, parse_scontrol_job, parse_slurm_version, parse_squeue_json,
    parse_squeue_text, sbatch_error_message, squeue_has_json)

__all__ = (
    "ACTIVE_STATES", "FINISHED_STATES", "STATE_CODES", "SlurmParseError", "SlurmReportedError",
    "UNLIMITED_WORDS", "epoch_to_iso", "exit_from_json", "expand_hostlist", "format_duration",
    "is_active", "is_finished", "iso_to_epoch", "job_order", "job_port", "normalize_state", "parse_duration",
    "parse_exit_code_text", "parse_time_limit", "slurm_num", "slurm_str", "slurm_time",
    "time_limit_text", "FINGERPRINT_PREFIX", "JOB_KEYS", "JOB_NAME_RE", "base_job_id", "blank_job",
    "default_output_path", "expand_output_pattern", "fingerprint", "finish_paths", "group_jobs",
    "make_comment", "merge_array", "public_job", "set_pending_times", "split_comment", "time_left",
    "with_elapsed", "INVALID_JOB_ERRORS", "JSON_COLUMNS", "NO_ACCOUNTING_ERRORS", "SACCT_FIELDS",
    "SACCT_FORMAT", "SOURCES", "SQUEUE_TEXT_FIELDS", "SQUEUE_TEXT_FORMAT", "SQUEUE_TEXT_SEP",
    "Source", "TRANSIENT_ERRORS", "is_invalid_job_error", "is_no_accounting_error",
    "is_transient_error", "parse_sacct", "parse_sbatch_output", "parse_scontrol_job",
    "parse_slurm_version", "parse_squeue_json", "parse_squeue_text", "sbatch_error_message",
    "squeue_has_json",
)
