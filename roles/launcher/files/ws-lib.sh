# shellcheck shell=bash
# ws-lib.sh: the launcher's service library. The launcher inlines it into every service
# script (roles/launcher/templates/launcher-service.sh.j2) after the WS_* variables, and the
# unit tests (tests/unit/launcher/) source it directly. It defines functions only; the
# preamble calls ws_init to install the exit traps.
#
# Every function prints its result on stdout, logs on stderr (the service log) and returns
# non-zero on failure, so bodies call them as `addr=$(ws_address) || exit 1`.
#
# Co-tenants: other users on the node see every process's command line and every listening
# port. So no helper puts a port it is about to use on a command line, and a service counts as
# ready only when the socket listening on its address:port belongs to the service's own
# process tree (ws_wait_ready), never because "something answers there".

ws_log() { printf '%s ws[%s]: %s\n' "$(date -Iseconds)" "${WS_SERVICE:-?}" "$*" >&2; }
ws_die() { ws_log "ERROR: $*"; exit 1; }

# ws_address: print the IPv4 address services bind to (WS_BIND_ADDRESS, the address of
# WS_BIND_INTERFACE, or the address of the node's hostname).
ws_address() {
  local addr=""
  if [ -n "${WS_BIND_ADDRESS:-}" ]; then
    printf '%s\n' "$WS_BIND_ADDRESS"
    return 0
  fi
  if [ -n "${WS_BIND_INTERFACE:-}" ]; then
    addr=$(PATH="$PATH:/sbin:/usr/sbin" ip -4 -o addr show dev "$WS_BIND_INTERFACE" 2>/dev/null \
           | awk '{ split($4, a, "/"); print a[1]; exit }')
    if [ -z "$addr" ] && command -v python3 >/dev/null 2>&1; then
      # Nodes without iproute2: ask the kernel (SIOCGIFADDR) for the interface's address.
      addr=$(python3 - "$WS_BIND_INTERFACE" 2>/dev/null <<'PY'
import fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = struct.pack("256s", sys.argv[1][:15].encode())
print(socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]))
PY
)
    fi
    if [ -z "$addr" ]; then
      ws_log "ERROR: no IPv4 address on interface $WS_BIND_INTERFACE of $(hostname): fix workspace_bind_interface"
      return 1
    fi
  else
    addr=$(getent ahostsv4 "$(hostname)" 2>/dev/null | awk '{ print $1; exit }')
    if [ -z "$addr" ] && command -v python3 >/dev/null 2>&1; then
      addr=$(python3 -c 'import socket; print(socket.gethostbyname(socket.gethostname()))' 2>/dev/null)
    fi
    if [ -z "$addr" ]; then
      ws_log "ERROR: cannot resolve $(hostname) to an IPv4 address: set workspace_bind_address or workspace_bind_interface"
      return 1
    fi
  fi
  printf '%s\n' "$addr"
}

# __ws_hex_addr ADDRESS: the IPv4 address as /proc/net/tcp writes it (little-endian hex).
__ws_hex_addr() {
  local IFS=. a b c d
  # shellcheck disable=SC2086  # split on dots on purpose
  set -- $1
  a=$1 b=$2 c=$3 d=$4
  printf '%02X%02X%02X%02X' "$d" "$c" "$b" "$a"
}

# ws_listeners ADDRESS PORT: print the inodes of the TCP sockets listening on ADDRESS:PORT,
# including wildcard listeners (0.0.0.0, ::) that also take that address. Reads /proc/net/tcp*,
# which shows every user's sockets (their owners' processes are not visible to us).
ws_listeners() {
  local addr=$1 port want_port want_v4 want_v6 file
  port=$(printf '%04X' "$2")
  want_v4=$(__ws_hex_addr "$addr")
  # ::ffff:a.b.c.d in /proc/net/tcp6 form: 0000000000000000FFFF0000 then the IPv4 word.
  want_v6="0000000000000000FFFF0000$want_v4"
  want_port=$port
  for file in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$file" ] || continue
    awk -v a4="$want_v4" -v a6="$want_v6" -v p="$want_port" '
      NR > 1 && $4 == "0A" {
        split($2, la, ":")
        if (la[2] != p) next
        if (la[1] == a4 || la[1] == "00000000" || la[1] == a6 || la[1] == "00000000000000000000000000000000") print $10
      }' "$file"
  done
}

# ws_descendants PID: print PID and the pids of all its descendants (from /proc/*/stat).
ws_descendants() {
  # cat, not awk on the files: a process may vanish between the glob and the read.
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    { pid = $1; sub(/^.*\) /, ""); parent[pid] = $2 }
    END {
      keep[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (pid in parent) if (!(pid in keep) && (parent[pid] in keep)) { keep[pid] = 1; changed = 1 }
      }
      for (pid in keep) print pid
    }'
}

# ws_socket_owner INODE PID: succeed when a process of PID's tree holds socket INODE.
ws_socket_owner() {
  local inode=$1 pid fd
  for pid in $(ws_descendants "$2"); do
    for fd in /proc/"$pid"/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
        return 0
      fi
    done
  done
  return 1
}

# ws_wait_ready PID ADDRESS PORT [SECONDS]: wait until the socket listening on ADDRESS:PORT
# belongs to PID or one of its descendants. Returns 0 when it does; 2 when the port is held
# by somebody else (our process exited, or never got it); 1 when PID exited or the time ran out.
ws_wait_ready() {
  local pid=$1 addr=$2 port=$3 limit=${4:-${WS_TIMEOUT:-300}} inode foreign i
  for ((i = 0; i < limit * 10; i++)); do
    foreign=""
    for inode in $(ws_listeners "$addr" "$port"); do
      if ws_socket_owner "$inode" "$pid"; then
        return 0
      fi
      foreign=1
    done
    if ! kill -0 "$pid" 2>/dev/null; then
      if [ -n "$foreign" ]; then
        ws_log "ERROR: port $port on $addr is held by another process (not this service): it cannot be used"
        return 2
      fi
      ws_log "ERROR: the service (pid $pid) exited before it listened on $addr:$port"
      return 1
    fi
    sleep 0.1
  done
  if [ -n "$foreign" ]; then
    ws_log "ERROR: port $port on $addr is held by another process (not this service) after $limit s"
    return 2
  fi
  ws_log "ERROR: the service (pid $pid) does not listen on $addr:$port after $limit s"
  return 1
}

# ws_stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 30); waits for it.
ws_stop_pid() {
  local pid=$1 grace=${2:-30} i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    ws_log "pid $pid still runs $grace s after SIGTERM: killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# ws_may_restart WHAT STATUS: call when the service's own process ended by itself with
# STATUS. Returns 1 for status 0 (it was asked to end: the job ends too) and when it died more
# than WS_RESTARTS times in the last 10 minutes (logs why); else logs the restart and sleeps
# 1, 2, 4... (at most 30) s, then returns 0: the body starts the service again. A stop
# (scancel, walltime, teardown) runs the exit trap instead and never gets here.
__ws_deaths=()
ws_may_restart() {
  local what=$1 status=$2 now t recent=() deaths delay
  if [ "$status" = 0 ]; then
    ws_log "$what ended (status 0): ending the service"
    return 1
  fi
  now=$(date +%s)
  for t in "${__ws_deaths[@]}"; do
    if [ $((now - t)) -lt 600 ]; then recent+=("$t"); fi
  done
  __ws_deaths=("${recent[@]}" "$now")
  deaths=${#__ws_deaths[@]}
  if [ "$deaths" -gt "${WS_RESTARTS:-0}" ]; then
    ws_log "ERROR: $what died (status $status) $deaths times in 10 minutes, more than workspace_restarts (${WS_RESTARTS:-0}): not restarting it"
    return 1
  fi
  delay=$((1 << (deaths - 1)))
  [ "$delay" -le 30 ] || delay=30
  ws_log "$what died (status $status): restart $deaths of at most ${WS_RESTARTS:-0} in 10 minutes, in $delay s"
  sleep "$delay"
}

# ws_queue_successor: walltime continuity (WS_CONTINUATION=1, in a Slurm job). Unless a job of
# this name already waits, submit the job's successor: the same script (WS_RUN_DIR/<service>.sh)
# with the same sbatch command line (WS_RUN_DIR/<service>.sbatch, written by the launcher's
# slurm_job) and --dependency=singleton, so it starts when this job ends (its walltime signal
# makes it save and stop) and takes over the same data. ws_write_connection calls it: a service
# queues its successor only once it runs, so one that fails to start does not chain failures.
ws_queue_successor() {
  [ "${WS_CONTINUATION:-0}" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ] || return 0
  local argv_file="$WS_RUN_DIR/$WS_SERVICE.sbatch" script="$WS_RUN_DIR/$WS_SERVICE.sh" waiting out var
  local -a argv=() clean=()
  waiting=$(squeue -h -u "$(id -un)" -n "${SLURM_JOB_NAME:-}" -t PENDING -o %i 2>/dev/null | head -n 1)
  if [ -n "$waiting" ]; then
    ws_log "continuation: job $waiting waits to take over when this job ends"
    return 0
  fi
  if [ ! -r "$argv_file" ] || [ ! -r "$script" ]; then
    ws_log "WARNING: continuation: $argv_file or $script is missing: no successor queued"
    return 0
  fi
  while IFS= read -r -d '' var; do argv+=("$var"); done <"$argv_file"
  # The job's own SLURM_*/SBATCH_* variables would leak into the successor's options.
  for var in $(compgen -e); do
    case $var in SLURM_* | SBATCH_* | SALLOC_*) clean+=(-u "$var") ;; esac
  done
  # --open-mode=append: the successor writes on after this job's log instead of truncating it.
  if out=$(env "${clean[@]}" "${argv[@]}" --dependency=singleton --open-mode=append "$script" </dev/null 2>&1); then
    ws_log "continuation: queued job ${out%%;*} to take over when this job ends"
  else
    ws_log "WARNING: continuation: sbatch failed, no successor queued: $out"
  fi
  return 0
}

# ws_address_of CONNFILE: print "address:port" of another service's connection file (empty
# when the file is missing or names no address and port).
ws_address_of() {
  [ -r "$1" ] || return 0
  local text address port
  text=$(head -c 65536 "$1" 2>/dev/null)
  address=$(printf '%s' "$text" | grep -o '"address": "[^"]*"' | head -n 1 | cut -d'"' -f4)
  port=$(printf '%s' "$text" | grep -o '"port": [0-9]*' | head -n 1 | awk '{ print $2 }')
  [ -n "$address" ] && [ -n "$port" ] && printf '%s:%s\n' "$address" "$port"
  return 0
}

# ws_watch_address CONNFILE PID FLAG [SECONDS]: run in the background. Every SECONDS (default
# 5) it compares the address of CONNFILE with the one it had at the start; when another service
# moved (a new job, node or port: the file names a different address), it creates FLAG and stops
# PID (SIGTERM, SIGKILL after 60 s: a Celery worker's warm shutdown waits for its running tasks,
# which can no longer report to the old address), so the body starts its process again on the
# new address. A missing file (the other service is away) changes nothing. Ends when PID does.
ws_watch_address() {
  local file=$1 pid=$2 flag=$3 every=${4:-5} start now
  # The watcher is no part of the service: without this, its sleep would hold the instance lock
  # for up to SECONDS after the job's end and delay a successor or a restart.
  if [ -n "${__ws_lock_fd:-}" ]; then exec {__ws_lock_fd}>&-; fi
  start=$(ws_address_of "$file")
  while kill -0 "$pid" 2>/dev/null; do
    sleep "$every"
    now=$(ws_address_of "$file")
    if [ -n "$now" ] && [ "$now" != "$start" ]; then
      ws_log "$(basename "$file" .json) moved to $now (was ${start:-away}): restarting pid $pid to follow it"
      : >"$flag"
      ws_stop_pid "$pid" 60
      return 0
    fi
  done
}

# ws_followed FLAG: succeed (and remove FLAG) when ws_watch_address stopped the process.
ws_followed() {
  [ -e "$1" ] || return 1
  rm -f "$1"
}

# __ws_local_address ADDRESS: succeed when ADDRESS is an address of this node (the kernel's
# local routes in /proc/net/fib_trie; when that file cannot be read, the bind decides).
__ws_local_address() {
  [ -r /proc/net/fib_trie ] || return 0
  awk -v want="$1" '/32 host LOCAL/ && prev == want { found = 1 } { prev = $2 } END { exit !found }' /proc/net/fib_trie
}

# __ws_port_free ADDRESS PORT: succeed when nothing listens on ADDRESS:PORT (or a wildcard).
__ws_port_free() {
  [ -z "$(ws_listeners "$1" "$2")" ]
}

# ws_pick_port [OFFSET]: print a port of WS_PORT_BASE..+WS_PORT_SPAN-1 where nothing listens
# on the service address, starting at base + (SLURM_JOB_ID or this script's pid) % span +
# OFFSET and going upward, wrapping inside the range. It only reads /proc/net/tcp*, so no
# helper process shows the port; the service's own bind, checked by ws_wait_ready, decides.
ws_pick_port() {
  local offset=${1:-0} seed=${SLURM_JOB_ID:-$$} addr port i
  addr=$(ws_address) || return 1
  for ((i = 0; i < WS_PORT_SPAN; i++)); do
    port=$((WS_PORT_BASE + (seed + offset + i) % WS_PORT_SPAN))
    if __ws_port_free "$addr" "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  ws_log "ERROR: no free port in $WS_PORT_BASE-$((WS_PORT_BASE + WS_PORT_SPAN - 1)) on $addr"
  return 1
}

# ws_serve START_FN [PORT]: start a listening service and prove it owns its port.
# Sets WS_ADDRESS and WS_PORT, calls START_FN (which starts the service in the background on
# "$WS_ADDRESS":"$WS_PORT" and sets WS_PID=$!), then ws_wait_ready. A port taken by someone
# else between the pick and the bind gives the next port (3 tries); with a fixed PORT there
# is one try and a failure names the port.
ws_serve() {
  local start_fn=$1 fixed=${2:-0} try rc
  WS_ADDRESS=$(ws_address) || return 1
  if ! __ws_local_address "$WS_ADDRESS"; then
    ws_log "ERROR: $WS_ADDRESS is not an address of $(hostname): fix workspace_bind_address or workspace_bind_interface"
    return 1
  fi
  for try in 1 2 3; do
    if [ "$fixed" != 0 ]; then
      WS_PORT=$fixed
      if ! __ws_port_free "$WS_ADDRESS" "$WS_PORT"; then
        ws_log "ERROR: port $WS_PORT on $WS_ADDRESS is already in use by another process: choose another port or leave it to the workspace (0)"
        return 1
      fi
    else
      WS_PORT=$(ws_pick_port "$((try - 1))") || return 1
    fi
    WS_PID=""
    "$start_fn" || return 1
    [ -n "$WS_PID" ] || { ws_log "ERROR: $start_fn did not set WS_PID"; return 1; }
    ws_wait_ready "$WS_PID" "$WS_ADDRESS" "$WS_PORT"
    rc=$?
    [ "$rc" = 0 ] && return 0
    ws_stop_pid "$WS_PID" 5
    if [ "$rc" != 2 ] || [ "$fixed" != 0 ]; then
      return 1
    fi
    ws_log "port $WS_PORT was taken by another process before the service bound it: trying another port"
  done
  ws_log "ERROR: three ports in a row were taken by other processes on $WS_ADDRESS: giving up"
  return 1
}

# ws_tls_issue ADDRESS: issue this service's TLS certificate for the node (short and full
# hostname, ADDRESS, localhost) signed by the workspace CA (WS_TLS_CA_CERT, WS_TLS_CA_KEY).
# Sets WS_TLS_CERT and WS_TLS_KEY (files under WS_RUN_DIR/tls, key 0600).
ws_tls_issue() {
  local addr=$1 dir="$WS_RUN_DIR/tls" host fqdn ext
  if [ -z "${WS_TLS_CA_CERT:-}" ] || [ ! -r "$WS_TLS_CA_KEY" ]; then
    ws_log "ERROR: TLS is on but the workspace CA (${WS_TLS_CA_KEY:-unset}) cannot be read"
    return 1
  fi
  host=$(hostname -s)
  fqdn=$(hostname -f 2>/dev/null) || fqdn=$host
  (umask 077 && mkdir -p "$dir") || return 1
  WS_TLS_KEY="$dir/$WS_SERVICE.key"
  WS_TLS_CERT="$dir/$WS_SERVICE.crt"
  ext="$dir/$WS_SERVICE.ext"
  printf 'subjectAltName=DNS:%s,DNS:%s,DNS:localhost,IP:%s,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$host" "$fqdn" "$addr" >"$ext" || return 1
  if ! (umask 077 &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WS_TLS_KEY" \
          -subj "/CN=$host/O=ulhpc.workspace $WS_NAME $WS_SERVICE" -out "$dir/$WS_SERVICE.csr" 2>/dev/null &&
        openssl x509 -req -in "$dir/$WS_SERVICE.csr" -CA "$WS_TLS_CA_CERT" -CAkey "$WS_TLS_CA_KEY" \
          -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" -days 30 -sha256 \
          -extfile "$ext" -out "$WS_TLS_CERT" 2>/dev/null); then
    ws_log "ERROR: openssl could not issue the TLS certificate of $WS_SERVICE"
    return 1
  fi
  rm -f "$dir/$WS_SERVICE.csr" "$ext"
}

__ws_json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//[$'\001'-$'\037']/}
  printf '"%s"' "$s"
}

__ws_json_value() {
  if [[ $1 =~ ^-?(0|[1-9][0-9]{0,15})$ ]]; then
    printf '%s' "$1"
  else
    __ws_json_string "$1"
  fi
}

# ws_write_connection key=value ...: write WS_CONN_FILE atomically as one line of JSON
# (integer-looking values become numbers), adding service, workspace, launcher, host,
# job_id, pid, started, walltime_end and secret_files unless given.
ws_write_connection() {
  local -A given=()
  local json="" kv key value end="" tmp
  for kv in "$@"; do
    if [[ $kv != *=* ]]; then
      ws_log "ERROR: ws_write_connection: '$kv' is not key=value"
      return 1
    fi
    key=${kv%%=*}
    value=${kv#*=}
    if [[ ! $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
      ws_log "ERROR: ws_write_connection: '$key' is not a valid key"
      return 1
    fi
    given[$key]=1
    json+=", $(__ws_json_string "$key"): $(__ws_json_value "$value")"
  done
  if [ -n "${SLURM_JOB_ID:-}" ] && command -v squeue >/dev/null 2>&1; then
    end=$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -n 1)
    [[ $end =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || end=""
  fi
  [ -n "${given[walltime_end]:-}" ] || json+=", \"walltime_end\": $([ -n "$end" ] && __ws_json_string "$end" || printf null)"
  [ -n "${given[secret_files]:-}" ] || json+=", \"secret_files\": ${WS_SECRET_FILES:-[]}"
  [ -n "${given[started]:-}" ] || json+=", \"started\": $(__ws_json_string "${WS_STARTED:-}")"
  [ -n "${given[pid]:-}" ] || json+=", \"pid\": $$"
  [ -n "${given[job_id]:-}" ] || json+=", \"job_id\": $([ -n "${SLURM_JOB_ID:-}" ] && __ws_json_string "$SLURM_JOB_ID" || printf null)"
  [ -n "${given[host]:-}" ] || json+=", \"host\": $(__ws_json_string "$(hostname -s)")"
  [ -n "${given[launcher]:-}" ] || json+=", \"launcher\": $(__ws_json_string "${WS_LAUNCHER:-}")"
  [ -n "${given[workspace]:-}" ] || json+=", \"workspace\": $(__ws_json_string "${WS_NAME:-}")"
  [ -n "${given[service]:-}" ] || json+=", \"service\": $(__ws_json_string "${WS_SERVICE:-}")"
  tmp="$WS_CONN_FILE.tmp.$$"
  if ! printf '{%s}\n' "${json#, }" >"$tmp" || ! chmod 600 "$tmp" || ! mv -f "$tmp" "$WS_CONN_FILE"; then
    rm -f "$tmp"
    ws_log "ERROR: cannot write $WS_CONN_FILE"
    return 1
  fi
  ws_log "ready: wrote $WS_CONN_FILE"
  ws_queue_successor
}

# ws_on_exit CMD [ARGS...]: run CMD (newest first) when the script is stopped (scancel,
# the walltime signal, local stop) or ends. The connection file is removed afterwards and
# the body's remaining background jobs are terminated.
__ws_exit_cmds=()
ws_on_exit() {
  local quoted
  printf -v quoted '%q ' "$@"
  __ws_exit_cmds+=("$quoted")
}

__ws_cleanup() {
  local i pids
  # A second signal must not end the shell halfway: Slurm sends SIGTERM again with the plain
  # scancel after workspace_stop_timeout, and a shell that exits then leaves its service
  # orphaned, outside what proctrack/linuxproc kills after KillWait. SIGKILL still ends all.
  trap '' TERM INT HUP
  trap - EXIT
  [ -z "${__ws_cleaning:-}" ] || return 0
  __ws_cleaning=1
  ws_log "stopping"
  for ((i = ${#__ws_exit_cmds[@]} - 1; i >= 0; i--)); do
    eval "${__ws_exit_cmds[i]}" || ws_log "cleanup '${__ws_exit_cmds[i]}' failed"
  done
  pids=$(jobs -pr)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086  # one pid per word
    kill -TERM $pids 2>/dev/null
    wait
  fi
  if [ -f "$WS_CONN_FILE" ] && grep -qF "\"pid\": $$," "$WS_CONN_FILE" \
     && { [ -z "${SLURM_JOB_ID:-}" ] || grep -qF "\"job_id\": \"$SLURM_JOB_ID\"" "$WS_CONN_FILE"; }; then
    rm -f "$WS_CONN_FILE"
  fi
  ws_log "stopped"
}

# ws_instance_lock: hold WS_RUN_DIR/WS_SERVICE.lock for the service's whole life, so that a
# second instance (a duplicate job, a run from another login node) never serves the same data:
# two Redis servers on one AOF lose writes. A second instance waits up to WS_TIMEOUT s for the
# first to end (a successor job taking over), then gives up naming the holder. The service's
# processes inherit the descriptor, so a server orphaned by a killed job shell still holds the
# lock while it lives. flock(1) locks are seen by every NFS client (Linux emulates them with
# POSIX locks there).
ws_instance_lock() {
  local lock="$WS_RUN_DIR/$WS_SERVICE.lock" limit=${WS_TIMEOUT:-300}
  if ! command -v flock >/dev/null 2>&1; then
    ws_log "WARNING: no flock command on $(hostname): nothing stops a second instance of $WS_SERVICE"
    return 0
  fi
  exec {__ws_lock_fd}<>"$lock" || { ws_log "ERROR: cannot open $lock"; return 1; }
  if ! flock -n "$__ws_lock_fd"; then
    ws_log "another instance of $WS_SERVICE runs ($(head -n 1 "$lock" 2>/dev/null)): waiting up to $limit s for it to end"
    if ! flock -w "$limit" "$__ws_lock_fd"; then
      ws_log "ERROR: another instance of $WS_SERVICE ($(head -n 1 "$lock" 2>/dev/null)) still runs after $limit s: not starting a second one on the same data"
      return 1
    fi
  fi
  # Rewriting the file keeps the lock: it belongs to the open file, not to the name's content.
  printf '%s pid %s%s\n' "$(hostname)" "$$" "${SLURM_JOB_ID:+ job $SLURM_JOB_ID}" >"$lock"
}

# ws_init: record the start time and install the traps that run the ws_on_exit commands.
# Bash runs a trap only between commands or while `wait`ing: bodies end with `wait`.
ws_init() {
  WS_STARTED=$(date -Iseconds)
  trap '__ws_cleanup; exit 143' TERM
  trap '__ws_cleanup; exit 129' HUP
  trap '__ws_cleanup; exit 130' INT
  trap '__ws_cleanup' EXIT
}
