#!/usr/bin/env bash
# Submit a short job as the test user, wait for it, and check that it ran as that
# user, that `module load` works inside it (python3 comes from the module), and
# that Slurm recorded it COMPLETED.
# Usage: self-check.sh USER LMOD_INIT PYTHON_MODULE EXPECTED_PYTHON3_PATH
set -euo pipefail
user=$1 init=$2 pymod=$3 want_python=$4
home=$(getent passwd "$user" | cut -d: -f6)
dir=$(runuser -u "$user" -- mktemp -d "$home/.testbed-check.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cat >"$dir/job.sh" <<SCRIPT
#!/bin/bash
set -e
source $init
module load $pymod
id -un
command -v python3
SCRIPT
chmod 0755 "$dir/job.sh"
chown "$user" "$dir/job.sh"
jobid=$(cd "$dir" && runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin \
  sbatch --parsable --job-name=testbed-check --time=2 --output="$dir/out" "$dir/job.sh") || true
jobid=${jobid%%;*}
if [ -z "$jobid" ]; then
  echo "self-check failed: sbatch as $user did not submit a job (is slurmctld up? see /var/log/slurm/)" >&2
  exit 1
fi
# Wait up to 5 minutes (the node may be busy with other tests' jobs).
for _ in $(seq 1 600); do
  case "$(squeue --noheader --jobs="$jobid" --format=%T 2>/dev/null)" in
    ""|COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) break ;;
  esac
  sleep 0.5
done
if [ -n "$(squeue --noheader --jobs="$jobid" --format=%T --states=PENDING,RUNNING,CONFIGURING,COMPLETING 2>/dev/null)" ]; then
  scancel "$jobid" || true
  echo "self-check failed: job $jobid did not finish within 5 minutes: $(squeue --noheader --jobs="$jobid" --format='%T %r')" >&2
  exit 1
fi
info=$(scontrol show job "$jobid")
state=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)
owner=$(grep -o 'UserId=[^(]*' <<<"$info" | cut -d= -f2)
output=$(cat "$dir/out" 2>/dev/null || true)
echo "job $jobid state=$state user=$owner"
echo "$output"
if [ "$state" != COMPLETED ] || [ "$owner" != "$user" ] || [ "$output" != "$(printf '%s\n%s' "$user" "$want_python")" ]; then
  echo "self-check failed: expected job $jobid COMPLETED, run by $user, printing '$user' and '$want_python'" >&2
  exit 1
fi
