#!/usr/bin/env python3
"""Boundaries of the kernel (Sources/AEXHost), checked by reading the sources.

  (a) dependencies: a file uses a type of another folder only if ARCHITECTURE.md's "Dependencies"
      table lets its folder use that folder (the table is read from there);
  (b) SQL text only in the folders that own tables;
  (c) each C module imported only by its wrappers;
  (d) no arithmetic on a MicroUSD's raw `.value` outside Money/ and Ledger/.

Prints every violation as `path:line: kind: what` and exits 1; exits 0 when there is none.
Plain Python 3, standard library only. Run from anywhere: python3 Tests/boundaries/check.py
"""

import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KERNEL = os.path.join("Sources", "AEXHost")

# --- the rules -----------------------------------------------------------------------------------
# (a) The folder -> folders table is read from ARCHITECTURE.md ("## Dependencies"), so the document
# is the rule. Uses past the table, each named by its file: (file, folder used) -> reason.
DEPENDENCY_EXCEPTIONS = {}

# (b) Folders that own tables and may hold SQL text; files allowed beside them: file -> reason.
SQL_FOLDERS = {"Store", "Ledger", "Agents", "PluginRegistry", "Runs"}
SQL_EXCEPTIONS = {}
SQL = [
    re.compile(r"\bSELECT\s"),
    re.compile(r"\bINSERT\s+INTO\b"),
    re.compile(r"\bUPDATE\s+\w+\s+SET\b"),
    re.compile(r"\bDELETE\s+FROM\b"),
    re.compile(r"\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b"),
    # A pragma statement, not a message naming one ("PRAGMA quick_check reports damage").
    re.compile(r'\bPRAGMA\s+[\w.]+\s*(?:=|\(|;|"|$)', re.MULTILINE),
]

# (c) C module -> the folders, or single files, that wrap it, each with its reason.
C_IMPORTS = {
    "CSQLite": {
        "Store": "SQLiteDatabase and SQLiteStatement are the SQLite wrapper",
    },
    "CCurl": {
        "Providers": "Egress and CurlHeaderList are the libcurl wrapper",
    },
    "CCrypto": {
        "Auth": "SHA256, SecureRandom and ConstantTime (CRYPTO_memcmp) are the libcrypto wrapper",
    },
    "CLinux": {
        "Runtime": "the event loop: epoll, eventfd, timerfd; thread names",
        "HTTP": "the listening socket, accept4, TCP_NODELAY, a connection's epoll event masks",
        "Providers": "libcurl's sockets and timer registered in the loop's epoll set (event masks, timerfd)",
        "Daemon/DaemonRunner.swift": "blocks SIGINT/SIGTERM/SIGHUP before any thread starts and waits for them",
        "Daemon/LoopbackHTTPClient.swift": "the CLI's blocking TCP connection to its own daemon, with a timeout",
        "Daemon/DetachedProcess.swift": "aex daemon start spawns the daemon in a new session",
        "Runs/ChildProcess.swift": "aex run spawns its child in a process group of its own, forwards signals to it and waits for it",
        "Tools": "tool workers: spawned with a socket pair in their own process group, hardened (prctl, rlimits), their socket and timer in the loop's epoll set",
    },
    "AEXPluginAPI": {
        "Plugins": "loads plugin libraries and builds the host table of the C ABI",
        "Proxy": "calls a provider plugin's hooks (PluginCall, Endpoint, ProviderPlugins)",
        "Tools/ToolWorkerMain.swift": "a tool worker calls its tool plugin's run_tool hook",
    },
}

# (d) Folders whose code may do arithmetic on a MicroUSD's raw Int64 (checked there, or proven
# not to overflow); uses allowed beside them: (file, the expression on the line) -> reason.
MONEY_FOLDERS = {"Money", "Ledger"}
MONEY_EXCEPTIONS = {}

# --- reading Swift -------------------------------------------------------------------------------


def split_swift(text):
    """Returns (code, code_and_strings): two copies of `text`, same length and same lines, with
    comments blanked in both and string literals' contents blanked in the first. Interpolated
    expressions (`\\(...)`) inside strings stay code."""
    code = list(text)
    with_strings = list(text)
    n = len(text)
    i = 0
    # Stack of frames: ("code", paren depth) for the file and each interpolation,
    # ("string", hashes, multiline) for each open literal.
    stack = [["code", 0]]

    def blank(buffer, start, end):
        for k in range(start, end):
            if buffer[k] != "\n":
                buffer[k] = " "

    while i < n:
        frame = stack[-1]
        c = text[i]
        if frame[0] == "code":
            if text.startswith("//", i):
                end = text.find("\n", i)
                end = n if end < 0 else end
                blank(code, i, end)
                blank(with_strings, i, end)
                i = end
                continue
            if text.startswith("/*", i):
                depth, j = 1, i + 2
                while j < n and depth:
                    if text.startswith("/*", j):
                        depth, j = depth + 1, j + 2
                    elif text.startswith("*/", j):
                        depth, j = depth - 1, j + 2
                    else:
                        j += 1
                blank(code, i, j)
                blank(with_strings, i, j)
                i = j
                continue
            m = re.compile(r'(#*)("""|")').match(text, i)
            if m and (c == '"' or c == "#"):
                hashes = len(m.group(1))
                stack.append(["string", hashes, m.group(2) == '"""'])
                i = m.end()
                continue
            if c == "(" and len(stack) > 1:
                frame[1] += 1
            elif c == ")" and len(stack) > 1:
                if frame[1] == 0:
                    stack.pop()
                    i += 1
                    continue
                frame[1] -= 1
            i += 1
            continue
        # Inside a string literal.
        _, hashes, multiline = frame
        escape = "\\" + "#" * hashes
        if text.startswith(escape, i):
            j = i + len(escape)
            if j < n and text[j] == "(":
                blank(code, i, j)
                stack.append(["code", 0])
                i = j + 1
                continue
            blank(code, i, min(j + 1, n))
            i = j + 1
            continue
        close = ('"""' if multiline else '"') + "#" * hashes
        if text.startswith(close, i):
            stack.pop()
            i += len(close)
            continue
        if c != "\n":
            code[i] = " "
        i += 1
    return "".join(code), "".join(with_strings)


DECLARATION = re.compile(
    r"^((?:@\w+(?:\([^)]*\))?\s+)*)((?:public |package |open |final |private |fileprivate |internal |indirect |nonisolated )*)"
    r"(struct|enum|class|protocol|actor|typealias)\s+([A-Za-z_][A-Za-z0-9_]*)")
NESTED_DECLARATION = re.compile(r"\b(?:struct|enum|class|protocol|actor|typealias)\s+([A-Za-z_][A-Za-z0-9_]*)")
IDENTIFIER = re.compile(r"\b[A-Z][A-Za-z0-9_]*\b")


class SourceFile:
    def __init__(self, path):
        self.path = path  # relative to ROOT
        parts = os.path.relpath(path, KERNEL).split(os.sep)
        self.folder = parts[0] if len(parts) > 1 else ""
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            self.text = handle.read()
        self.code, self.code_and_strings = split_swift(self.text)
        self.code_lines = self.code.split("\n")
        self.string_lines = self.code_and_strings.split("\n")


def kernel_files():
    files = []
    for directory, _, names in os.walk(os.path.join(ROOT, KERNEL)):
        for name in sorted(names):
            if name.endswith(".swift"):
                files.append(SourceFile(os.path.relpath(os.path.join(directory, name), ROOT)))
    return sorted(files, key=lambda f: f.path)


def declared_types(files):
    """Top-level type names visible outside their file -> folder; and per file, every type name it
    declares itself at any depth (a nested `Options` is not another folder's `Options`)."""
    owners = {}
    local = {}
    for source in files:
        local[source.path] = set(NESTED_DECLARATION.findall(source.code))
        for line in source.code_lines:
            m = DECLARATION.match(line)
            if not m or "private " in m.group(2):
                continue
            name = m.group(4)
            if name in owners and owners[name] != source.folder:
                sys.exit(f"check.py: {name} is declared in both {owners[name]}/ and {source.folder}/")
            owners[name] = source.folder
    return owners, local


TABLE_ROW = re.compile(r"^\|\s*`([A-Za-z]+)/`\s*\|(.*)\|\s*$")


def dependency_table(folders):
    """ARCHITECTURE.md's "## Dependencies" table: folder -> folders it may use besides its own and
    Support/. Every folder of the kernel must have a row, and a row only names real folders."""
    with open(os.path.join(ROOT, "ARCHITECTURE.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = re.search(r"^## Dependencies\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if not section:
        sys.exit("check.py: ARCHITECTURE.md has no '## Dependencies' section")
    table = {}
    for line in section.group(1).splitlines():
        m = TABLE_ROW.match(line)
        if m:
            table[m.group(1)] = set(re.findall(r"`([A-Za-z]+)/`", m.group(2)))
    problems = [f"ARCHITECTURE.md: the Dependencies table has no row for {f}/" for f in sorted(folders - set(table))]
    for folder, used in sorted(table.items()):
        for name in sorted((used | {folder}) - folders):
            problems.append(f"ARCHITECTURE.md: the Dependencies table names {name}/, which is not a folder of {KERNEL}")
    return table, problems


def relative(source):
    return os.path.relpath(source.path, KERNEL)


def check_dependencies(files, owners, local, table):
    violations = []
    for source in files:
        if not source.folder:
            continue
        allowed = table.get(source.folder, set()) | {source.folder, "Support"}
        for number, line in enumerate(source.code_lines, 1):
            for name in sorted(set(IDENTIFIER.findall(line))):
                folder = owners.get(name)
                if folder is None or folder in allowed or name in local[source.path]:
                    continue
                if (relative(source), folder) in DEPENDENCY_EXCEPTIONS:
                    USED.add(("dependency", (relative(source), folder)))
                    continue
                violations.append(f"{source.path}:{number}: dependency: {source.folder}/ may not use {name} ({folder}/)")
    return violations


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def check_sql(files):
    violations = []
    for source in files:
        if source.folder in SQL_FOLDERS:
            continue
        found = set()
        for pattern in SQL:
            for m in pattern.finditer(source.code_and_strings):
                found.add((line_of(source.code_and_strings, m.start()), m.group(0).split()[0]))
        if found and relative(source) in SQL_EXCEPTIONS:
            USED.add(("sql", relative(source)))
            continue
        for number, word in sorted(found):
            violations.append(f"{source.path}:{number}: sql: {word} outside {', '.join(sorted(SQL_FOLDERS))}")
    return violations


IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*import\s+(?:(?:struct|class|enum|func|var|let|typealias|protocol)\s+)?(\w+)", re.MULTILINE)


def check_c_imports(files):
    violations = []
    for source in files:
        for m in IMPORT.finditer(source.code):
            module = m.group(1)
            wrappers = C_IMPORTS.get(module)
            if wrappers is None:
                continue
            if source.folder in wrappers or relative(source) in wrappers:
                USED.add(("c-import", (module, relative(source) if relative(source) in wrappers else source.folder)))
                continue
            violations.append(
                f"{source.path}:{line_of(source.code, m.start())}: c-import: {module} only in {', '.join(sorted(wrappers))}")
    return violations


MONEY_NAMES = [
    re.compile(r"\b(\w+)\s*:\s*(?:\[\s*\w+\s*:\s*)?MicroUSD\b"),       # let x: MicroUSD, cost: MicroUSD, [K: MicroUSD]
    re.compile(r"\b(?:let|var)\s+(\w+)\s*=\s*(?:try\s+)?MicroUSD\b"),     # let x = MicroUSD(…)
    re.compile(r"\bvar\s+(\w+)\s*:\s*MicroUSD\b"),
    re.compile(r"\bfunc\s+(\w+)\s*\([^)]*\)[^{]*->\s*MicroUSD\b"),        # func cost(…) -> MicroUSD
]
RAW_VALUE = re.compile(r"(\b\w+\b|\))([?!]?)\.value\b(?!\s*\()")
OPERATOR_AFTER = re.compile(r"^\s*(?:&[-+*]|[-+*](?![>=])|[-+*]=)")
OPERATOR_BEFORE = re.compile(r"(?:&[-+*]|(?<![-+*/=<>!&|])[-+*]|[-+*]=)\s*$")


def money_names(files):
    names = {"MicroUSD"}
    for source in files:
        for pattern in MONEY_NAMES:
            names.update(pattern.findall(source.code))
    return names


def expression_start(line, end):
    """Start of the member chain ending at `end` (`agent.budget` in `x + agent.budget.value`)."""
    start = end
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_.?!"):
        start -= 1
    return start


def check_money(files):
    names = money_names(files)
    violations = []
    for source in files:
        if source.folder in MONEY_FOLDERS:
            continue
        for number, line in enumerate(source.code_lines, 1):
            for m in RAW_VALUE.finditer(line):
                owner = m.group(1)
                if owner == ")":
                    # `MicroUSD(…).value`: the call's name before its parentheses.
                    depth, k = 0, m.start(1)
                    while k >= 0:
                        depth += {")": 1, "(": -1}.get(line[k], 0)
                        if depth == 0:
                            break
                        k -= 1
                    owner = re.search(r"(\w*)\s*$", line[:max(k, 0)]).group(1)
                if owner not in names:
                    continue
                start = expression_start(line, m.start(1)) if m.group(1) != ")" else m.start(1)
                if not (OPERATOR_AFTER.match(line[m.end():]) or OPERATOR_BEFORE.search(line[:start])):
                    continue
                excused = [key for key in MONEY_EXCEPTIONS if relative(source) == key[0] and key[1] in line]
                if excused:
                    USED.update(("money", key) for key in excused)
                else:
                    violations.append(f"{source.path}:{number}: money: arithmetic on the raw value of {owner} "
                                      f"(use MicroUSD's checked operations; Money/ and Ledger/ only)")
                break
    return violations


# Exceptions and wrappers that matched something in this run: one that matches nothing is stale.
USED = set()


def stale_exceptions():
    expected = [("dependency", key) for key in DEPENDENCY_EXCEPTIONS]
    expected += [("sql", key) for key in SQL_EXCEPTIONS]
    expected += [("money", key) for key in MONEY_EXCEPTIONS]
    expected += [("c-import", (module, where)) for module, wrappers in C_IMPORTS.items() for where in wrappers]
    return [f"Tests/boundaries/check.py: {kind} entry {key!r} matches nothing any more: remove it"
            for kind, key in expected if (kind, key) not in USED]


def self_test():
    """The reader itself: what it must see as code, and what it must not."""
    cases = [
        ('let a = "x \\(Foo.bar("y")) Hidden" // Hidden', {"Foo"}),
        ('let b = #"raw \\(Hidden) \\#(Code) "Hidden""#', {"Code"}),
        ('let c = """\n  SELECT \\(Columns.all) Hidden\n  """\n/* a /* Hidden */ Hidden */ Done', {"Columns", "Done"}),
        ('let d = "esc \\" Hidden \\\\" + Next', {"Next"}),
    ]
    for text, expected in cases:
        code, with_strings = split_swift(text)
        seen = set(IDENTIFIER.findall(code))
        if seen != expected or len(code) != len(text) or code.count("\n") != text.count("\n"):
            sys.exit(f"check.py: reading {text!r} saw {sorted(seen)}, expected {sorted(expected)}")
    if "SELECT" not in split_swift(cases[2][0])[1]:
        sys.exit("check.py: string contents must stay visible to the SQL check")


def main():
    self_test()
    files = kernel_files()
    folders = {source.folder for source in files if source.folder}
    owners, local = declared_types(files)
    table, problems = dependency_table(folders)
    violations = problems
    violations += check_dependencies(files, owners, local, table)
    violations += check_sql(files)
    violations += check_c_imports(files)
    violations += check_money(files)
    violations += stale_exceptions()
    for violation in violations:
        print(violation)
    if violations:
        print(f"boundaries: {len(violations)} violation(s) in {KERNEL} (rules: ARCHITECTURE.md, Tests/boundaries/README.md)")
        return 1
    print(f"boundaries: {len(files)} files in {len(folders)} folders, {len(owners)} types; "
          f"dependencies, SQL, C imports and raw money arithmetic OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
