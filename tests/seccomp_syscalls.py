#!/usr/bin/python3
"""Summarises what poolftpd workers called, for the seccomp allowlist.

Run the integration tests with POOLFTPD_STRACE_DIR=DIR (tests/integration/
helpers.py then traces every server with strace -ff into DIR), then

    /usr/bin/python3 tests/seccomp_syscalls.py DIR

prints each system call the workers made after their before-accept stage
(the point where src/worker/seccomp.cc installs the filter), with how many
processes made it and one example line. A worker's trace counts from its
prctl(PR_SET_PDEATHSIG) (the call right after the stage), or, for a worker
strace attached to while it already waited for a client, from its first
line. A trace that forks a process (clone with SIGCHLD) or reaps one
(wait4) is the master's and is skipped; workers' listing threads (clone3,
clone with CLONE_THREAD) count as the worker's own calls (strace -ff gives
each thread a file of its own).
Compare the result with the allowlist in src/worker/seccomp.cc.
"""

import collections
import re
import sys
from pathlib import Path

CALL = re.compile(r"^(?:\d+\s+)?(?:<\.\.\. )?([a-z_0-9]+)[( ]")
MARK = "prctl(PR_SET_PDEATHSIG"
MASTER_MARKS = ("wait4(", "fork(", "vfork(")


def worker_lines(path):
    lines = path.read_text(errors="replace").splitlines()
    if any(l.startswith(MASTER_MARKS) or (l.startswith("clone") and "SIGCHLD" in l)
           for l in lines):
        return None
    for i, line in enumerate(lines):
        if line.startswith(MARK):
            return lines[i + 1:]
    return lines


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    seen = collections.Counter()
    example = {}
    workers = 0
    for path in sorted(Path(argv[1]).iterdir()):
        lines = worker_lines(path)
        if lines is None:
            continue
        workers += 1
        names = set()
        for line in lines:
            m = CALL.match(line)
            if not m or line.startswith(("+++", "---")):
                continue
            name = m.group(1)
            if name not in names:
                names.add(name)
                example.setdefault(name, line[:110])
        seen.update(names)
    print(f"{workers} worker traces")
    for name in sorted(seen):
        print(f"{name:20} {seen[name]:6}  {example[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
