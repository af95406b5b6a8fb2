#!/usr/bin/env python3
"""Names every #include in the libraries' sources that crosses a layer the wrong way.

The manifest (written by cmake/Layers.cmake at configure time) lists, in layer order, each
library folder's public headers and the folders its targets link. A file in folder F may
include any header of F, and of another folder G only a public header, and only if F links G.
The compiler enforces the same rule for what it compiles; this also covers headers that no
translation unit includes yet, and says what to do.

usage: check_includes.py MANIFEST SOURCE_DIR
"""
import json
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/([^"]+)"', re.MULTILINE)


def violations(manifest, source_dir):
    folders = {entry["folder"]: entry for entry in manifest}
    order = [entry["folder"] for entry in manifest]
    for folder in order:
        entry = folders[folder]
        for path in sorted((source_dir / folder).rglob("*")):
            if path.suffix not in (".h", ".cpp"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in INCLUDE.finditer(text):
                other, header = match.group(1), match.group(2)
                line = text.count("\n", 0, match.start()) + 1
                where = f"{path.relative_to(source_dir)}:{line}"
                if other == folder:
                    continue
                if other not in folders:
                    yield (f"{where}: includes {other}/{header}, which is not a library: "
                           f"libraries include only libraries")
                elif other not in entry["may_include"]:
                    above = order.index(other) > order.index(folder)
                    why = "a layer above it" if above else "a library it does not link"
                    yield (f"{where}: includes {other}/{header}, but {folder}/ may not see "
                           f"{other}/ ({why}); link it in {folder}/CMakeLists.txt if it is "
                           f"below, else move the code down")
                elif header not in folders[other]["public"]:
                    yield (f"{where}: includes {other}/{header}, which is internal to "
                           f"{other}/; use one of its public headers "
                           f"({', '.join(folders[other]['public'])}) or declare it public in "
                           f"{other}/CMakeLists.txt")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 64
    manifest = json.loads(pathlib.Path(sys.argv[1]).read_text())
    found = list(violations(manifest, pathlib.Path(sys.argv[2])))
    for message in found:
        print(message)
    print(f"{len(found)} include(s) cross a layer the wrong way")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
