#!/usr/bin/env bash
# The compose stack for real, where a Docker engine answers:
#   docker_stack_test.sh SOURCE_DIR [--skip REASON]
# builds the images, starts PostgreSQL, the bastion and the demo target, waits for the bastion's
# healthcheck (its metrics endpoint), checks that the bastion runs as "portcullis", not root,
# logs in through it with the demo user's key, and takes the stack down with its volumes.
# Exit status 77 (skipped) when no engine answers `docker info`.
set -euo pipefail

source_dir="$(realpath "$1")"
if [ "${2:-}" = --skip ]; then
  echo "skipped: $3"
  exit 77
fi
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  echo "skipped: no Docker engine"
  exit 77
fi
command -v docker-compose >/dev/null || { echo "docker-compose is not installed: run scripts/bootstrap" >&2; exit 1; }

started=$SECONDS
project="portcullis-test-$$"
compose() { docker-compose -p "$project" -f "$source_dir/docker-compose.yml" "$@"; }
fail() {
  echo "docker_stack_test: FAILED: $*" >&2
  compose logs --no-color --tail=50 >&2 || true
  exit 1
}
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT

compose build -q || fail "docker-compose build failed"
compose up -d || fail "docker-compose up failed"

container="$(compose ps -q portcullis)"
[ -n "$container" ] || fail "no portcullis container"
health=""
for _ in $(seq 120); do
  health="$(docker inspect -f '{{.State.Health.Status}}' "$container" 2>/dev/null || true)"
  [ "$health" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$container")" = true ] || fail "the bastion stopped"
  sleep 1
done
[ "$health" = healthy ] || fail "the bastion is '$health' after 120 s, not healthy"

user="$(compose exec -T portcullis id -un)"
[ "$user" = portcullis ] || fail "the bastion container runs as '$user', not portcullis"
compose exec -T portcullis portcullisd --version | grep -q '^portcullisd ' ||
  fail "portcullisd --version in the image"

output="$(compose exec -T portcullis ssh -i /var/lib/portcullis/demo/demo_ed25519 -p 2222 \
  -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  demo+demo-target@127.0.0.1 'id -un')" || fail "ssh through the bastion in the stack"
[ "$output" = app ] || fail "ssh through the bastion printed '$output', not app"

echo "compose stack passed in $((SECONDS - started)) s"
