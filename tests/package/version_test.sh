#!/usr/bin/env bash
# --version: `version_test.sh SOURCE_DIR PROJECT_VERSION PORTCULLISD PORTCULLIS`.
# Both programs print "NAME VERSION (SOURCE)"; outside a git checkout (a tarball, a Docker
# context without .git) SOURCE is "unknown"; and a tag that would end the C++ string is tamed.
set -euo pipefail
source_dir="$1" project_version="$2"
shift 2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "version_test: FAILED: $*" >&2
  exit 1
}

for program in "$@"; do
  name="${program##*/}"
  printed="$("$program" --version)"
  [[ "$printed" =~ ^$name\ ${project_version//./\\.}\ \([A-Za-z0-9._+~-]+\)$ ]] ||
    fail "$program --version printed '$printed', not '$name $project_version (SOURCE)'"
  echo "$printed"
done

generate() {  # generate DESCRIBE [ENV...]: the version string GitVersion.cmake writes
  local describe="$1"
  shift
  env "$@" cmake -DSOURCE_DIR="$source_dir" -DTEMPLATE="$source_dir/common/version.cpp.in" \
    -DOUTPUT="$work/version.cpp" -DPROJECT_VERSION="$project_version" -DDESCRIBE="$describe" \
    -P "$source_dir/cmake/GitVersion.cmake"
  sed -n 's/.*return "\(.*\)";.*/\1/p' "$work/version.cpp"
}
[ "$(generate "" GIT_DIR=/nonexistent)" = "$project_version (unknown)" ] ||
  fail "outside a git checkout the version is '$(generate "" GIT_DIR=/nonexistent)', not unknown"
hostile="v1\"; evil\\"
[ "$(generate "$hostile")" = "$project_version (v1___evil_)" ] ||
  fail "the tag name $hostile gave '$(generate "$hostile")'"
[ "$(generate "v0.1.0-2-gabc1234-dirty")" = "$project_version (v0.1.0-2-gabc1234-dirty)" ] ||
  fail "PORTCULLIS_GIT_DESCRIBE is not used as given"
echo "version strings OK"
