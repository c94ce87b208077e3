#!/usr/bin/env python3
# layout_check.py: the tree against DESIGN §1. Reads every production C
# file's #include "..." lines and every CMakeLists.txt's
# target_link_libraries (and sf_test LIBS), turns each into an edge
# between folders, and fails with one line per edge against the
# dependency direction:
#
#   common <- proto <- model <- store <- server <- cmd
#   authz is used by server and gateway; kube by reconciler and server;
#   ops by server, gateway, reconciler and cmd; gateway and reconciler are
#   RPC clients through client/ (libsvcfleet), never of server or store;
#   nothing production depends on tests/ or bench/; cmd may use everything.
#
# Also: no production file includes another folder's private header
# (internal.h, *_internal.h), every production folder has a CMakeLists.txt
# and unit tests of its own (a registered *_test.c), and its public header
# (a binary's main.c) opens with a comment saying what the module is for
# ("// name.h: ...").
#
# A bare include resolves to the including file's own folder when the
# header is there (so every folder's internal.h is its own), else to the
# one folder that has a header of that name; *.pb-c.h is proto's
# (generated). Usage: layout_check.py [SOURCE-DIR]; exit 0 when the tree
# keeps the rules, 1 with the violations on stdout.
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))

# What each production folder may depend on (besides itself): DESIGN §1.
ALLOWED = {
    "common": set(),
    "proto": {"common"},
    "model": {"common", "proto"},
    "store": {"common", "proto", "model"},
    "authz": {"common", "proto"},  # pure: no server, store or nng
    "kube": {"common", "proto", "model"},
    "ops": {"common"},
    # The CLI reads kubeconfigs with kube/ (cluster add --kubeconfig);
    # libsvcfleet itself links only nng and protobuf-c, which
    # ops_install_test proves by building a program against the install.
    "client": {"common", "proto", "model", "kube"},
    "server": {"common", "proto", "model", "store", "authz", "kube", "ops"},
    "gateway": {"common", "proto", "model", "authz", "ops", "client"},
    "reconciler": {"common", "proto", "model", "kube", "ops", "client"},
    "cmd": {"common", "proto", "model", "store", "authz", "kube", "ops",
            "client", "server", "gateway", "reconciler"},
}
PRODUCTION = set(ALLOWED)
NOT_PRODUCTION = {"tests", "bench"}

# Edges against the rules that are known and being removed. Each is
# tolerated (and reported as a note) until it is gone; anything else
# fails.
KNOWN = set()

# Each production folder's public header (a binary's main.c), whose first
# line must say what the module is for. common/ is a set of small
# modules: each of its headers is checked.
PUBLIC = {
    "model": ["model/model.h"],
    "store": ["store/store.h"],
    "authz": ["authz/rbac.h"],
    "kube": ["kube/kube.h"],
    "ops": ["ops/ops.h"],
    "client": ["client/include/svcfleet/svcfleet.h"],
    "server": ["server/server.h"],
    "gateway": ["gateway/gateway.h"],
    "reconciler": ["reconciler/reconciler.h"],
    "proto": ["proto/svcfleet.proto"],
}

# Folders that must stay pure functions: no library beyond the project's
# own targets, no system interface of the kinds below.
PURE = {"authz"}
IMPURE_INCLUDE = re.compile(r"^\s*#\s*include\s+<(nng/|lmdb\.h|curl/|"
                            r"microhttpd\.h|pthread\.h|unistd\.h)")

SKIP_DIRS = {"node_modules", "corpus"}
PRIVATE_HEADER = re.compile(r"(^|_)internal\.h$")
TEST_FILE = re.compile(r"(_test\.[ch]$|^test_util\.[ch]$|testutil\.[ch]$)")

violations = []
notes = []
counts = {"files": 0, "includes": 0, "links": 0}


def rel(path):
    return os.path.relpath(path, ROOT)


def module_of(relpath):
    top = relpath.split(os.sep)[0]
    return top


def walk(top):
    """Files below ROOT/top, skipping build trees and hidden folders."""
    base = os.path.join(ROOT, top)
    for d, dirs, files in os.walk(base):
        dirs[:] = [x for x in dirs if not x.startswith(".")
                   and x not in SKIP_DIRS
                   and not os.path.exists(os.path.join(d, x,
                                                       "CMakeCache.txt"))]
        for f in files:
            yield rel(os.path.join(d, f))


def allowed(frm, to):
    return frm == to or to in ALLOWED.get(frm, set())


def edge(frm, to, where, what):
    """Records an edge frm -> to seen at where; a violation if against
    the rules."""
    if frm == to or frm not in PRODUCTION:
        return
    if to in NOT_PRODUCTION:
        violations.append(f"{where}: {what} makes {frm} depend on {to}: "
                          "production code must not depend on tests or "
                          "bench")
        return
    if allowed(frm, to):
        return
    if (frm, to) in KNOWN:
        known_seen.add((frm, to))
        return
    may = ", ".join(sorted(ALLOWED[frm])) or "nothing"
    violations.append(f"{where}: {what} makes {frm} depend on {to}, "
                      f"against DESIGN §1 ({frm} may use: {may})")


known_seen = set()

# ------------------------------------------------------------ the graph
# ALLOWED must itself have no cycle, or the direction means nothing.
def check_acyclic():
    state = {}

    def visit(m, path):
        if state.get(m) == 1:
            violations.append("layout_check.py: ALLOWED has a cycle: "
                              + " -> ".join(path + [m]))
            return
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(ALLOWED.get(m, ())):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(ALLOWED):
        visit(m, [])


# ------------------------------------------------------------- includes
def header_index():
    """basename -> [relpath] of every header in the tree."""
    idx = {}
    for top in sorted(os.listdir(ROOT)):
        if top.startswith(".") or not os.path.isdir(os.path.join(ROOT, top)):
            continue
        if os.path.exists(os.path.join(ROOT, top, "CMakeCache.txt")):
            continue
        for f in walk(top):
            if f.endswith(".h"):
                idx.setdefault(os.path.basename(f), []).append(f)
    return idx


INCLUDE = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<(svcfleet/[^>]+)>)')


def resolve(src, name, idx):
    """The header src's #include of name means, or None; a list when it
    is ambiguous."""
    here = os.path.dirname(src)
    own = os.path.normpath(os.path.join(here, name))
    if os.path.isfile(os.path.join(ROOT, own)):
        return own
    if name.endswith(".pb-c.h"):
        return os.path.join("proto", name)
    if "/" in name:
        hits = [h for hs in idx.values() for h in hs
                if h.endswith(os.sep + name)]
    else:
        hits = idx.get(name, [])
    if len(hits) == 1:
        return hits[0]
    return hits or None


def check_includes(idx):
    for top in sorted(PRODUCTION):
        if not os.path.isdir(os.path.join(ROOT, top)):
            continue
        for f in sorted(walk(top)):
            if not f.endswith((".c", ".h")) or TEST_FILE.search(
                    os.path.basename(f)):
                continue
            with open(os.path.join(ROOT, f), encoding="utf-8",
                      errors="replace") as fh:
                counts["files"] += 1
                for n, line in enumerate(fh, 1):
                    if top in PURE and IMPURE_INCLUDE.match(line):
                        violations.append(
                            f"{f}:{n}: {line.strip()}: {top} is pure "
                            "(no I/O, threads, nng, LMDB or curl)")
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    counts["includes"] += 1
                    name = m.group(1) or m.group(2)
                    where = f"{f}:{n}"
                    what = f'#include "{name}"'
                    hit = resolve(f, name, idx)
                    if hit is None:
                        violations.append(f"{where}: {what} names no "
                                          "header in the tree")
                        continue
                    if isinstance(hit, list):
                        violations.append(
                            f"{where}: {what} is ambiguous: "
                            + ", ".join(sorted(hit))
                            + " (name its folder's header uniquely)")
                        continue
                    to = module_of(hit)
                    if to != top and PRIVATE_HEADER.search(
                            os.path.basename(hit)):
                        violations.append(
                            f"{where}: {what} reaches into {hit}, a "
                            f"private header of {to}")
                        continue
                    edge(top, to, where, what)


# ---------------------------------------------------------------- CMake
def strip_comments(text):
    out = []
    for line in text.splitlines():
        # A '#' outside quotes starts a comment.
        q = False
        for i, ch in enumerate(line):
            if ch == '"':
                q = not q
            elif ch == "#" and not q:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


COMMAND = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def commands(text):
    """(name, args, line) of every command of a CMakeLists.txt."""
    text = strip_comments(text)
    i = 0
    while True:
        m = COMMAND.search(text, i)
        if not m:
            return
        depth, j = 1, m.end()
        while j < len(text) and depth > 0:
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
            j += 1
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1).lower(), text[m.end():j - 1].split(), line
        i = j


def cmake_files():
    for top in sorted(os.listdir(ROOT)):
        p = os.path.join(ROOT, top)
        if top.startswith(".") or not os.path.isdir(p) or \
                os.path.exists(os.path.join(p, "CMakeCache.txt")):
            continue
        for f in walk(top):
            if os.path.basename(f) == "CMakeLists.txt":
                yield f


def check_links():
    targets = {}  # name -> (module, is_test)
    links = []    # (target, [libs], where)
    for f in sorted(cmake_files()):
        top = module_of(f)
        with open(os.path.join(ROOT, f), encoding="utf-8") as fh:
            text = fh.read()
        conds = []
        for name, args, line in commands(text):
            where = f"{f}:{line}"
            in_tests = top in NOT_PRODUCTION or any(
                "SF_TESTS" in c for c in conds)
            if name == "if":
                conds.append(" ".join(args))
            elif name == "endif" and conds:
                conds.pop()
            elif name in ("add_library", "add_executable") and args:
                targets[args[0]] = (top, in_tests)
            elif name == "sf_test" and args:
                targets[args[0]] = (top, True)
                libs = []
                if "LIBS" in args:
                    for a in args[args.index("LIBS") + 1:]:
                        if a in ("SOURCES", "LABELS", "TIMEOUT"):
                            break
                        libs.append(a)
                links.append((args[0], libs, where))
            elif name == "target_link_libraries" and args:
                libs = [a for a in args[1:]
                        if a not in ("PUBLIC", "PRIVATE", "INTERFACE")]
                links.append((args[0], libs, where))
    for tgt, libs, where in links:
        if tgt not in targets:
            continue
        frm, is_test = targets[tgt]
        if is_test:
            continue
        for lib in libs:
            if lib in targets:
                counts["links"] += 1
                edge(frm, targets[lib][0], where,
                     f"{tgt} linking {lib}")
            elif frm in PURE:
                violations.append(f"{where}: {tgt} links {lib}: {frm} is "
                                  "pure (only the project's own targets)")


# ------------------------------------------------- folders and headers
FIRST_COMMENT = re.compile(r"^// ([\w.-]+): \S+( \S+){2,}")


def check_first_comment(path):
    try:
        with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
    except OSError:
        violations.append(f"{path}: missing (the module's public header)")
        return
    base = os.path.basename(path)
    if path.endswith(".proto"):
        ok = first.startswith("// ") and len(first.split()) >= 3
    else:
        m = FIRST_COMMENT.match(first)
        ok = m is not None and m.group(1) == base
    if not ok:
        violations.append(f"{path}:1: the first line must say what the "
                          f"module is for: \"// {base}: ...\"")


def check_folders():
    for top in sorted(PRODUCTION):
        if not os.path.isdir(os.path.join(ROOT, top)):
            violations.append(f"{top}/: missing (DESIGN §1)")
            continue
        if not os.path.isfile(os.path.join(ROOT, top, "CMakeLists.txt")):
            violations.append(f"{top}/: no CMakeLists.txt")
    for path in sum(PUBLIC.values(), []):
        check_first_comment(path)
    for f in sorted(walk("common")):
        if f.endswith(".h"):
            check_first_comment(f)
    cmd = os.path.join(ROOT, "cmd")
    for sub in sorted(os.listdir(cmd)) if os.path.isdir(cmd) else []:
        if not os.path.isdir(os.path.join(cmd, sub)):
            continue
        if not os.path.isfile(os.path.join(cmd, sub, "CMakeLists.txt")):
            violations.append(f"cmd/{sub}/: no CMakeLists.txt")
        check_first_comment(os.path.join("cmd", sub, "main.c"))


# Every production folder keeps unit tests of its own (issue 14): a
# *_test.c beside its code, registered in a CMakeLists.txt (sf_test).
# proto/ holds no C; client/ and cmd/ are checked per part.
def check_tests():
    dirs = [d for d in sorted(PRODUCTION) if d not in ("proto", "client",
                                                      "cmd")]
    dirs += ["client/lib", "client/cli"]
    cmd = os.path.join(ROOT, "cmd")
    for sub in sorted(os.listdir(cmd)) if os.path.isdir(cmd) else []:
        if os.path.isdir(os.path.join(cmd, sub)):
            dirs.append(f"cmd/{sub}")
    cmake = ""
    for f in sorted(cmake_files()):
        with open(os.path.join(ROOT, f), encoding="utf-8") as fh:
            cmake += fh.read()
    for d in dirs:
        full = os.path.join(ROOT, d)
        tests = sorted(f for f in os.listdir(full)
                       if f.endswith("_test.c")) if os.path.isdir(full) \
            else []
        if not tests:
            violations.append(f"{d}/: no unit test of its own (a *_test.c "
                              "beside the code, registered with sf_test)")
        # Named whole ("foo_test.c") or by its stem in a foreach loop
        # ("foreach(t foo ...)" with "${t}_test.c").
        elif not any(re.search(r"(^|[\s/(])" + re.escape(t[:-len("_test.c")])
                               + r"(_test(\.c)?)?[\s)]", cmake)
                     for t in tests):
            violations.append(f"{d}/: its tests ({', '.join(tests)}) are "
                              "not registered in any CMakeLists.txt")


def main():
    check_acyclic()
    check_includes(header_index())
    check_links()
    check_folders()
    check_tests()
    for frm, to in sorted(KNOWN - known_seen):
        notes.append(f"note: the known edge {frm} -> {to} is gone; remove "
                     "it from KNOWN in tests/layout_check.py")
    for frm, to in sorted(known_seen):
        notes.append(f"note: known edge {frm} -> {to} (being removed)")
    for n in notes:
        print(n)
    for v in violations:
        print(f"layout: {v}")
    if violations:
        print(f"{len(violations)} violation(s) of DESIGN §1's layout")
        return 1
    print(f"layout: {counts['files']} files, {counts['includes']} "
          f"#includes, {counts['links']} links between targets: the tree "
          "keeps DESIGN §1's dependency direction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
