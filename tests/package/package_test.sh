#!/usr/bin/env bash
# The Debian package, installed on this machine for real:
#   package_test.sh BUILD_DIR [--skip REASON]
# builds the .deb from BUILD_DIR with cpack, installs it with dpkg -i, checks its files, the
# portcullis user and the systemd unit (systemd-analyze verify), runs the INSTALLED programs,
# as the portcullis user, against a private PostgreSQL and a real sshd through a real ssh
# session, then removes and purges the package and checks what each leaves. A trap purges it
# on any failure. Exit status 77 (skipped) without root or dpkg, or when a real installation
# (a vault key in /var/lib/portcullis) is present: the test would purge it.
set -euo pipefail

build_dir="$(realpath "$1")"
shift
if [ "${1:-}" = --skip ]; then
  echo "skipped: $2"
  exit 77
fi
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$source_dir/scripts/lib.sh"

skip() {
  echo "skipped: $*"
  exit 77
}
is_root || skip "installing a package needs root"
{ command -v dpkg && command -v cpack; } >/dev/null || skip "dpkg or cpack is not installed"
[ -f /var/lib/portcullis/vault.key ] &&
  skip "/var/lib/portcullis/vault.key exists: a real installation is here, and purging it would" \
    "destroy its vault key"

started=$SECONDS
fail() {
  echo "package_test: FAILED: $*" >&2
  exit 1
}
check() {  # check DESCRIPTION COMMAND...: runs the command, fails naming DESCRIPTION if it fails
  local what="$1"
  shift
  "$@" || fail "$what"
}
mode_owner() { stat -c '%a %U:%G' "$1"; }

# Another build folder on this machine may run this test at the same moment: one at a time.
mkdir -p /run/lock
exec 9>/run/lock/portcullis-package-test.lock
flock -w 600 9 || fail "another package test held /run/lock/portcullis-package-test.lock for 10 min"

purge() {
  if dpkg-query -W -f='${Status}' portcullis 2>/dev/null | grep -q "installed\|config-files\|half"; then
    dpkg --purge portcullis >/dev/null 2>&1 || dpkg --purge --force-all portcullis >/dev/null 2>&1 || true
  fi
}
purge  # a leftover of an earlier run that was killed
run_cleanup_on_exit
at_exit purge

work="$(mktemp -d /tmp/portcullis-package-test.XXXXXX)"
chmod 755 "$work"  # PostgreSQL and the portcullis user find their folders inside
at_exit "rm -rf '$work'"

echo "== building the package (cpack in $build_dir)"
(cd "$build_dir" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log" >&2; fail "cpack could not build the package (log above)"; }
debs=("$work"/deb/portcullis_*.deb)
[ -f "${debs[0]}" ] || fail "cpack wrote no portcullis_*.deb in $work/deb"
deb="${debs[0]}"
echo "built ${deb##*/} ($(du -h "$deb" | cut -f1)) in $((SECONDS - started)) s"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "Depends: $depends"
for dependency in openssh-client adduser libssh-4 libpq5 libsodium23; do
  [[ "$depends" == *"$dependency"* ]] || fail "the package does not depend on $dependency"
done
[[ "$(dpkg-deb -f "$deb" Recommends)" == *postgresql* ]] || fail "the package does not recommend postgresql"

echo "== dpkg -i"
dpkg -i "$deb" >"$work/dpkg-install.log" 2>&1 ||
  { cat "$work/dpkg-install.log" >&2; fail "dpkg -i failed (log above)"; }

installed_files=(
  /usr/sbin/portcullisd /usr/bin/portcullis
  /etc/portcullis/portcullis.toml
  /usr/share/portcullis/schema/001_init.sql /usr/share/portcullis/database-roles.sql
  /usr/share/man/man8/portcullisd.8.gz /usr/share/man/man1/portcullis.1.gz
  /usr/share/man/man5/portcullis.toml.5.gz
  /usr/lib/systemd/system/portcullisd.service
  /usr/share/doc/portcullis/install.md /usr/share/doc/portcullis/config.md
  /usr/share/doc/portcullis/examples/portcullis.toml /usr/share/doc/portcullis/examples/low-port.conf
)
for file in "${installed_files[@]}"; do
  [ -f "$file" ] || fail "the package did not install $file"
done
for program in /usr/sbin/portcullisd /usr/bin/portcullis; do
  [ -x "$program" ] || fail "$program is not executable"
done
for schema in "$source_dir"/schema/*.sql; do
  cmp -s "$schema" "/usr/share/portcullis/schema/${schema##*/}" ||
    fail "/usr/share/portcullis/schema/${schema##*/} is missing or differs from schema/"
done
dpkg-query -W -f='${Conffiles}\n' portcullis | grep -q '^ /etc/portcullis/portcullis.toml ' ||
  fail "/etc/portcullis/portcullis.toml is not a conffile"
for page in man8/portcullisd.8.gz man1/portcullis.1.gz man5/portcullis.toml.5.gz; do
  zcat "/usr/share/man/$page" | grep -q '^\.TH ' || fail "/usr/share/man/$page is not a man page"
done
zcat /usr/share/man/man8/portcullisd.8.gz | grep -q 'SIGHUP' ||
  fail "portcullisd(8) does not describe its signals"
zcat /usr/share/man/man8/portcullisd.8.gz | grep -qF -- '\-\-config' ||
  fail "portcullisd(8) does not list the options of --help"

echo "== the portcullis user and its folders"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd portcullis) ||
  fail "postinst did not create the user portcullis"
[ "$uid" -lt 1000 ] || fail "portcullis is not a system user (uid $uid)"
[ "$home" = /var/lib/portcullis ] || fail "portcullis's home is $home, not /var/lib/portcullis"
[ "$shell" = /usr/sbin/nologin ] || fail "portcullis's shell is $shell, not /usr/sbin/nologin"
getent group portcullis >/dev/null || fail "postinst did not create the group portcullis"
[ "$(mode_owner /var/lib/portcullis)" = "700 portcullis:portcullis" ] ||
  fail "/var/lib/portcullis is $(mode_owner /var/lib/portcullis), not 700 portcullis:portcullis"
[ "$(mode_owner /etc/portcullis)" = "750 root:portcullis" ] ||
  fail "/etc/portcullis is $(mode_owner /etc/portcullis), not 750 root:portcullis"
[ "$(mode_owner /etc/portcullis/portcullis.toml)" = "640 root:portcullis" ] ||
  fail "the config is $(mode_owner /etc/portcullis/portcullis.toml), not 640 root:portcullis"

echo "== systemd-analyze verify"
unit=/usr/lib/systemd/system/portcullisd.service
grep -q '^ExecStart=/usr/sbin/portcullisd -c /etc/portcullis/portcullis.toml$' "$unit" ||
  fail "the unit does not start /usr/sbin/portcullisd: $(grep ExecStart= "$unit")"
verify_status=0
verify_output="$(systemd-analyze verify "$unit" 2>&1)" || verify_status=$?
echo "${verify_output:-(nothing printed)}"
[ "$verify_status" -eq 0 ] || fail "systemd-analyze verify exited with status $verify_status"
[ -z "$verify_output" ] || fail "systemd-analyze verify printed something about the unit (above)"
# A setting systemd did not know would have been ignored with a warning above; these must be
# there as written.
for setting in Type=notify User=portcullis ProtectSystem=strict NoNewPrivileges=yes \
  StateDirectory=portcullis UMask=0077 LimitCORE=0 KillMode=mixed; do
  grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done

# Offline (systemd is not PID 1 here) this makes the same link it makes on a running system.
systemctl enable portcullisd.service >/dev/null 2>&1 || fail "systemctl enable portcullisd"
wants=/etc/systemd/system/multi-user.target.wants/portcullisd.service
[ -L "$wants" ] || fail "systemctl enable did not link $wants"

echo "== --version"
for program in portcullisd:/usr/sbin/portcullisd portcullis:/usr/bin/portcullis; do
  name="${program%%:*}"
  path="${program#*:}"
  version="$("$path" --version)"
  echo "$version"
  [[ "$version" =~ ^$name\ [0-9]+\.[0-9]+\.[0-9]+\ \(.+\)$ ]] ||
    fail "$path --version printed '$version', not '$name X.Y.Z (source)'"
  [ "$version" = "$("$build_dir/bin/$name" --version)" ] ||
    fail "$path --version differs from the build's $name"
done

echo "== the installed config loads"
as_portcullis() { runuser -u portcullis -- "$@"; }
as_portcullis /usr/bin/portcullis -c /etc/portcullis/portcullis.toml policy check ||
  fail "portcullis policy check refused the packaged config"

echo "== the installed programs, as the portcullis user, through a real ssh session"
pg_port="$(free_port 26432)"
start_postgres "$work/postgres" "$pg_port"
create_database "$work/postgres" "$pg_port" portcullis
account="$(target_account pcl-pkgtest)"
target_port="$(free_port 23022)"
start_sshd "$work/target" "$target_port" "$account"

bastion="$work/bastion"
install -d -o portcullis -g portcullis -m 0700 "$bastion"
ssh-keygen -q -t ed25519 -N '' -C package-test-user -f "$work/user_key"
ssh-keygen -q -t ed25519 -N '' -C package-test-account -f "$bastion/account_key"
cat "$bastion/account_key.pub" >>"$work/target/keys/authorized_keys"
bastion_port="$(free_port 24222)"
write_bastion_config "$bastion/portcullis.toml" "127.0.0.1:$bastion_port" \
  "$(postgres_url "$work/postgres" "$pg_port" portcullis)"
cp "$work/user_key.pub" "$bastion/"
chown -R portcullis:portcullis "$bastion"

admin() { as_portcullis /usr/bin/portcullis -c "$bastion/portcullis.toml" "$@"; }
check "portcullis init" admin init >/dev/null
check "portcullis user add" admin user add pkgtest --key "$bastion/user_key.pub" >/dev/null
# --scan runs ssh-keyscan, which the package depends on (openssh-client).
check "portcullis target add --scan" admin target add pkg-target --host 127.0.0.1 \
  --port "$target_port" --scan >/dev/null
check "portcullis account add" admin account add pkg-target "$account" \
  --key-file "$bastion/account_key" >/dev/null
check "portcullis grant add" admin grant add pkgtest "pkg-target:$account" --for 10m \
  --reason "package test" >/dev/null

# setpriv execs the daemon itself (runuser would stay its parent), so the signal below reaches it.
setpriv --reuid=portcullis --regid=portcullis --init-groups \
  /usr/sbin/portcullisd -c "$bastion/portcullis.toml" 2>"$work/portcullisd.log" &
daemon=$!
at_exit "kill $daemon 2>/dev/null; wait $daemon 2>/dev/null"
wait_for_port "$bastion_port" 20 ||
  { cat "$work/portcullisd.log" >&2; fail "the installed portcullisd did not listen (log above)"; }
ssh_output="$(ssh -F none -i "$work/user_key" -p "$bastion_port" -o BatchMode=yes \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  "pkgtest+pkg-target@127.0.0.1" 'echo "through the bastion as $(id -un)"' 2>&1)" ||
  { echo "$ssh_output"; cat "$work/portcullisd.log" >&2; fail "ssh through the installed daemon failed"; }
echo "$ssh_output"
[ "$ssh_output" = "through the bastion as $account" ] ||
  fail "ssh through the installed daemon printed '$ssh_output'"
admin session list | grep -q pkg-target || fail "the session is not in 'portcullis session list'"
kill -TERM "$daemon"
wait "$daemon" || fail "the installed portcullisd exited with status $? on SIGTERM"

echo "== installing again (an upgrade) keeps an edited config and the state"
echo "# edited by the package test" >>/etc/portcullis/portcullis.toml
touch /var/lib/portcullis/package-test-marker
dpkg -i "$deb" >"$work/dpkg-upgrade.log" 2>&1 ||
  { cat "$work/dpkg-upgrade.log" >&2; fail "installing the package again failed (log above)"; }
grep -q "^# edited by the package test$" /etc/portcullis/portcullis.toml ||
  fail "installing again replaced the edited config"
[ "$(mode_owner /etc/portcullis/portcullis.toml)" = "640 root:portcullis" ] ||
  fail "after installing again the config is $(mode_owner /etc/portcullis/portcullis.toml)"
[ -f /var/lib/portcullis/package-test-marker ] || fail "installing again emptied /var/lib/portcullis"

echo "== dpkg -r keeps the config, the state and the user"
dpkg -r portcullis >"$work/dpkg-remove.log" 2>&1 ||
  { cat "$work/dpkg-remove.log" >&2; fail "dpkg -r failed (log above)"; }
for file in /usr/sbin/portcullisd /usr/bin/portcullis "$unit"; do
  [ ! -e "$file" ] || fail "dpkg -r left $file"
done
[ -f /etc/portcullis/portcullis.toml ] || fail "dpkg -r removed the conffile"
[ -f /var/lib/portcullis/package-test-marker ] || fail "dpkg -r emptied /var/lib/portcullis"
getent passwd portcullis >/dev/null || fail "dpkg -r removed the user"

echo "== dpkg --purge removes everything"
dpkg --purge portcullis >"$work/dpkg-purge.log" 2>&1 ||
  { cat "$work/dpkg-purge.log" >&2; fail "dpkg --purge failed (log above)"; }
for file in "${installed_files[@]}" /etc/portcullis /var/lib/portcullis /usr/share/portcullis \
  /usr/share/doc/portcullis "$wants"; do
  if [ -e "$file" ] || [ -L "$file" ]; then fail "dpkg --purge left $file"; fi
done
! getent passwd portcullis >/dev/null || fail "dpkg --purge left the user portcullis"
! getent group portcullis >/dev/null || fail "dpkg --purge left the group portcullis"

echo "package test passed in $((SECONDS - started)) s"
