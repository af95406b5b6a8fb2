#!/usr/bin/env python3
"""Checks that a Dockerfile stage installs every shared library the given programs load.

    check_docker_libraries.py --dockerfile Dockerfile --stage portcullis PROGRAM...

The programs are the ones this machine built. Each library `ldd` resolves is mapped to the
Debian package holding it (`dpkg -S`). A library a program links directly (readelf's NEEDED)
must come from a package named in the stage's `apt-get install` list; one it loads only through
another library may come from a package those pull in (their Depends, as installed here). libc6
is in every image. Exit status 0 when covered, 1 naming each missing package, 77 when skipped.

--pretend-absent PKG checks the list as if PKG were not in it: the test that this check can fail.
"""

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

EXEMPT = {"libc6"}


def fail(message):
    print(f"check_docker_libraries: error: {message}", file=sys.stderr)
    sys.exit(1)


def stage_install_list(dockerfile, stage):
    """The package names after `apt-get install` in the RUN lines of one stage."""
    text = Path(dockerfile).read_text()
    text = re.sub(r"\\\n", " ", text)  # continuation lines
    in_stage = False
    packages = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].upper() == "FROM":
            in_stage = len(words) >= 4 and words[2].upper() == "AS" and words[3] == stage
            continue
        if not in_stage or words[0].upper() != "RUN":
            continue
        tokens = shlex.split(line[len(words[0]):], comments=True)
        for i, token in enumerate(tokens):
            if token in ("apt-get", "apt") and "install" in tokens[i + 1:i + 3]:
                rest = tokens[tokens.index("install", i) + 1:]
                for word in rest:
                    if word in ("&&", "||", ";", "|"):
                        break
                    if not word.startswith("-"):
                        packages.append(word)
    if not packages:
        fail(f"{dockerfile}: no 'apt-get install' in the stage '{stage}' (FROM ... AS {stage}): "
             "was the stage renamed? Pass its name with --stage")
    return packages


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.returncode, result.stdout


def loaded_libraries(program):
    """{soname: resolved path} of everything ldd says the program loads."""
    status, out = run(["ldd", program])
    if status != 0:
        fail(f"ldd {program} failed (exit status {status}): is it a dynamic executable?")
    libraries = {}
    for line in out.splitlines():
        line = line.strip()
        match = re.match(r"(\S+) => (.+?) \(0x", line)
        if match:
            if match.group(2) == "not found":
                fail(f"{program} needs {match.group(1)}, which this machine does not have: "
                     "run scripts/bootstrap and build again")
            libraries[match.group(1)] = match.group(2)
        elif re.match(r"(/\S+) \(0x", line):  # the dynamic loader
            path = line.split()[0]
            libraries[Path(path).name] = path
        elif "not found" in line:
            fail(f"{program}: {line}")
    return libraries


def direct_sonames(program):
    status, out = run(["readelf", "-d", program])
    if status != 0:
        fail(f"readelf -d {program} failed (exit status {status})")
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def packages_of(paths):
    """{path: package holding it}, with one dpkg-query for them all. Each path is tried as
    given, resolved, and with or without /usr (Debian's merged /usr: ldd says /lib/..., dpkg may
    know /usr/lib/...)."""
    candidates = {}
    for path in paths:
        variants = [path, str(Path(path).resolve())]
        for variant in list(variants):
            variants.append(variant[len("/usr"):] if variant.startswith("/usr/") else "/usr" + variant)
        candidates[path] = variants
    # Exit status 1 when some variant is unknown, which is expected: read what it found.
    _, out = run(["dpkg-query", "-S"] + sorted({v for vs in candidates.values() for v in vs}))
    owner = {}
    for line in out.splitlines():
        if line.startswith("diversion ") or ": " not in line:
            continue
        package, _, file = line.partition(": ")
        owner[file] = package.split(",")[0].split(":")[0].strip()
    found = {}
    for path, variants in candidates.items():
        package = next((owner[v] for v in variants if v in owner), None)
        if package is None:
            fail(f"no installed package holds {path}: was it built or copied by hand? The image "
                 "can only have what a package installs")
        found[path] = package
    return found


def dependency_closure(packages):
    """The packages and everything they depend on, as the installed packages here declare."""
    seen = set()
    pending = list(packages)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        status, out = run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", name])
        if status != 0:
            continue  # not installed here: its dependencies are unknown, not needed for the check
        for clause in out.split(","):
            for alternative in clause.split("|"):
                dependency = alternative.strip().split(" ")[0].split(":")[0]
                if dependency:
                    pending.append(dependency)
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--pretend-absent", action="append", default=[])
    parser.add_argument("--skip", help="print 'skipped: SKIP' and exit 77")
    parser.add_argument("programs", nargs="+")
    args = parser.parse_args()
    if args.skip:
        print(f"skipped: {args.skip}")
        return 77

    listed = [p for p in stage_install_list(args.dockerfile, args.stage)
              if p not in args.pretend_absent]
    available = dependency_closure(listed)

    loaded = {program: loaded_libraries(program) for program in args.programs}
    owners = packages_of({path for libraries in loaded.values() for path in libraries.values()})
    # package -> [(soname, program, direct)]
    needs = {}
    for program, libraries in loaded.items():
        direct = direct_sonames(program)
        for soname, path in libraries.items():
            needs.setdefault(owners[path], []).append((soname, Path(program).name, soname in direct))

    missing = []
    for package, uses in sorted(needs.items()):
        if package in EXEMPT:
            continue
        linked_directly = any(direct for _, _, direct in uses)
        if package in listed or (not linked_directly and package in available):
            continue
        by_soname = {}
        for soname, program, _ in uses:
            by_soname.setdefault(soname, set()).add(program)
        what = ", ".join(f"{soname} for {' and '.join(sorted(programs))}"
                         for soname, programs in sorted(by_soname.items()))
        how = "linked directly, so name it" if linked_directly else "not pulled in by the list"
        missing.append(f"  {package} ({what}; {how})")
    if missing:
        print(f"{len(missing)} package(s) missing from the 'apt-get install' list of the stage "
              f"'{args.stage}' in {args.dockerfile}; add them:\n" + "\n".join(missing))
        return 1
    libraries = len({soname for uses in needs.values() for soname, _, _ in uses})
    print(f"OK: the {len(needs)} packages holding the {libraries} libraries of "
          f"{', '.join(Path(p).name for p in args.programs)} are installed by the stage "
          f"'{args.stage}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
