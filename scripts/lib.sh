# shellcheck shell=bash
# Shell helpers shared by the scripts in this folder. Source it; do not run it.
# Every function that starts something registers how to stop it with `at_exit`, so a script
# that calls `run_cleanup_on_exit` once stops everything it started on Ctrl-C or on error.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Cleanup: commands run in reverse order of registration when the script ends.

cleanup_commands=()
at_exit() { cleanup_commands+=("$1"); }
run_cleanup() {
  local i
  for ((i = ${#cleanup_commands[@]} - 1; i >= 0; i--)); do
    eval "${cleanup_commands[i]}" || true
  done
  cleanup_commands=()
}
run_cleanup_on_exit() {
  trap 'run_cleanup' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---------------------------------------------------------------------------------------------
# Building

# build_tree DIR [CMAKE_ARGS...]: configure with Ninja (ccache is picked up by CMakeLists.txt)
# and build everything.
build_tree() {
  local dir="$1"
  shift
  # The daemon embeds the web console's files, some of them from web/ui/node_modules.
  [ -d "$repo_root/web/ui/node_modules" ] ||
    die "web/ui/node_modules is missing: run scripts/bootstrap (it runs npm ci there) and build again"
  # The compiler cache is shared by every clone on this machine (CI builds a fresh clone each
  # time): paths under the clone are hashed relative to it, and the build folder's own path is
  # left out of the hash, so a new clone hits what the last one compiled.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo_root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
  cmake -S "$repo_root" -B "$dir" -G Ninja -DPORTCULLIS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

# ---------------------------------------------------------------------------------------------
# Ports and accounts

# A TCP port on 127.0.0.1 that nothing listens on, starting the search at $1.
free_port() {
  local port="${1:-20000}"
  while ss -Htln "sport = :$port" | grep -q .; do
    port=$((port + 1))
  done
  echo "$port"
}

# Waits until something accepts connections on 127.0.0.1:$1 (at most $2 seconds).
wait_for_port() {
  local port="$1" seconds="${2:-15}" i
  for ((i = 0; i < seconds * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as an unprivileged user when we are root (initdb refuses root).
as_unprivileged() {
  if is_root; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

# The OS account a local target lets the bastion log in to: $1 (created if missing) as root,
# else the current user, since a non-root sshd can only log in as itself.
target_account() {
  local name="$1"
  if ! is_root; then
    id -un
    return
  fi
  if ! id "$name" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$name"
  fi
  # useradd leaves the account locked ('!'), and sshd refuses locked accounts even for keys.
  if [ "$(getent shadow "$name" | cut -d: -f2)" = "!" ]; then
    usermod -p '*' "$name"
  fi
  echo "$name"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

postgres_bin() {
  local dir
  dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  [ -x "$dir/initdb" ] || dir=""
  [ -n "$dir" ] || die "PostgreSQL server binaries not found (run scripts/bootstrap)"
  echo "$dir"
}

# start_postgres DIR PORT: a private cluster in DIR, on a unix socket in DIR and 127.0.0.1:PORT.
start_postgres() {
  local dir="$1" port="$2" bin
  bin="$(postgres_bin)"
  mkdir -p "$dir"
  is_root && chown nobody: "$dir"
  (cd "$dir" && as_unprivileged "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
    --no-sync --encoding=UTF8 --locale=C >"$dir/initdb.log") ||
    die "initdb failed: see $dir/initdb.log"
  at_exit "(cd '$dir' && as_unprivileged '$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null)"
  (cd "$dir" && as_unprivileged "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1" start >/dev/null) ||
    die "PostgreSQL did not start: see $dir/postgres.log"
}

# postgres_url DIR PORT DATABASE: the libpq URI of a database in a cluster from start_postgres.
postgres_url() { echo "postgresql:///$3?host=$1&port=$2&user=postgres"; }

# create_database DIR PORT NAME
create_database() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$(postgres_url "$1" "$2" postgres)" \
    -c "CREATE DATABASE $3" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# An OpenSSH target

# start_sshd DIR PORT ACCOUNT: sshd on 127.0.0.1:PORT with its host key in
# DIR/ssh_host_ed25519_key, letting ACCOUNT in with the keys in DIR/keys/authorized_keys (the
# folder is ACCOUNT's, so credential rotation can replace the file) and with certificates from
# the CAs in DIR/trusted_user_ca_keys (`portcullis ca pubkey`).
start_sshd() {
  local dir="$1" port="$2" account="$3"
  mkdir -p "$dir" /run/sshd
  chmod 755 "$dir"  # sshd reads authorized_keys as the account
  [ -f "$dir/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C target-host-key -f "$dir/ssh_host_ed25519_key"
  touch "$dir/trusted_user_ca_keys"
  chmod 644 "$dir/trusted_user_ca_keys"
  # The account owns the folder of its authorized_keys, so rotation can replace the file.
  mkdir -p "$dir/keys"
  touch "$dir/keys/authorized_keys"
  chmod 644 "$dir/keys/authorized_keys"
  if is_root; then chown -R "$account:" "$dir/keys"; fi
  cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/keys/authorized_keys
TrustedUserCAKeys $dir/trusted_user_ca_keys
AllowUsers $account
UsePAM no
StrictModes no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AcceptEnv LANG LC_* TERM
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>>"$dir/sshd.log" &
  local pid=$!
  at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  wait_for_port "$port" 10 || die "sshd did not start: see $dir/sshd.log"
}

# ---------------------------------------------------------------------------------------------
# The bastion

# write_bastion_config FILE LISTEN DATABASE_URL: a portcullis.toml with its state next to it.
write_bastion_config() {
  cat >"$1" <<EOF
[server]
listen = "$2"
host_key = "state/ssh_host_ed25519_key"
node_name = "node1"

[database]
url = "$3"

[vault]
key_file = "state/vault.key"

[recording]
spool_dir = "state/spool"
EOF
}
