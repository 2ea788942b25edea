"""Fixtures for the poolftpd integration tests.

- `tree`: the anonymous root with known files (random 1 MiB and 10 MiB files,
  LF text, UTF-8 names, a name with spaces, subdirectories) and hostile
  symlinks pointing outside it; `huge` adds a 200 MiB file on first use.
- `identity`: parametrised over "root" and "nobody" (module scope), so every
  functional module runs against a server started both ways.
- `server`: one default server per module and identity.
- `server_factory`: function-scoped servers with custom settings; all are torn
  down (TERM, wait, KILL of their own PIDs) and checked after the test.
- `sanitizer_reports` (autouse): every test's processes report into a
  directory of the test's own, and any report fails the test (helpers.py,
  "sanitizer reports").
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from helpers import (FTPCOUNT, FTPWHO, IS_ROOT, LIVE_SERVERS, POOLFTPD, SAN_VARS, Identity, Server,
                     kill_quietly, make_report_dir, pids_with_cmdline, sanitizer_env,
                     sanitizer_reports)

MIB = 1 << 20
# A fixed, distinct mtime per file (UTC), so MDTM/MLSD checks are exact.
BASE_MTIME = 1583000000  # 2020-02-29T18:13:20Z


class Tree:
    """The test tree. `root` is the anonymous root; `files` maps the FTP path
    (relative, "/"-separated) of every regular file to its content."""

    def __init__(self, base):
        self.base = Path(base)
        self.root = self.base / "root"
        self.files = {}
        self.dirs = ["sub", "sub/deeper", "empty dir", "evil", "bytes"]
        # A name that is not UTF-8 and holds the Telnet IAC byte (0xff).
        self.iac_name = b"caf\xff.txt"
        self.iac_content = b"iac in the name\n"
        self.outside_secret = b"OUTSIDE-SECRET-" + os.urandom(8).hex().encode() + b"\n"
        self.huge_name = "huge200m.bin"
        self.huge_sha = None
        self.huge_size = 200 * MIB

    def build(self):
        root = self.root
        root.mkdir()
        for d in self.dirs:
            (root / d).mkdir(parents=True, exist_ok=True)
        text = b"".join(b"line %d of the text file\n" % i for i in range(2000))
        files = {
            "small.txt": b"hello world\n",
            "empty.txt": b"",
            "text.txt": text,
            "random1m.bin": os.urandom(MIB),
            "big10m.bin": os.urandom(10 * MIB),
            "h\u00e9llo.txt": "h\u00e9llo w\u00f6rld \u2713\n".encode("utf-8"),
            "name with spaces.txt": b"spaces are fine\n",
            "\u65e5\u672c\u8a9e.txt": "nihongo\n".encode("utf-8"),
            "sub/a.txt": b"file a in sub\n",
            "sub/b.bin": os.urandom(70000),
            "sub/deeper/c.txt": b"deeper file c\n",
        }
        for rel, data in files.items():
            (root / rel).write_bytes(data)
            self.files[rel] = data
        with open(os.path.join(bytes(root / "bytes"), self.iac_name), "wb") as f:
            f.write(self.iac_content)
        # Hostile symlinks: out of the tree by absolute and relative paths.
        (self.base / "outside.txt").write_bytes(self.outside_secret)
        (self.base / "outsidedir").mkdir()
        (self.base / "outsidedir" / "secret.txt").write_bytes(self.outside_secret)
        evil = root / "evil"
        os.symlink("/etc/passwd", evil / "passwd")
        os.symlink("../../outside.txt", evil / "outside")
        os.symlink(str(self.base / "outside.txt"), evil / "abs_outside")
        os.symlink("../../outsidedir", evil / "outdir")
        os.symlink("/", evil / "rootlink")
        # Permissions: world-readable, so workers running as nobody can read.
        os.chmod(self.base, 0o755)
        for dirpath, dirnames, filenames in os.walk(root):
            os.chmod(dirpath, 0o755)
            for fn in filenames:
                p = os.path.join(dirpath, fn)
                if not os.path.islink(p):
                    os.chmod(p, 0o644)
        for i, rel in enumerate(sorted(self.files)):
            t = BASE_MTIME + i * 86400 + i
            os.utime(root / rel, (t, t))
        for i, d in enumerate(self.dirs):
            t = BASE_MTIME - (i + 1) * 3600
            os.utime(root / d, (t, t))

    def path(self, rel):
        return self.root / rel

    def make_huge(self):
        """The 200 MiB file (made once): a random 1 MiB block repeated with a
        per-block counter, so every MiB differs."""
        if self.huge_sha is not None:
            return
        import hashlib
        block = os.urandom(MIB)
        h = hashlib.sha256()
        path = self.root / self.huge_name
        with open(path, "wb") as f:
            for i in range(self.huge_size // MIB):
                chunk = i.to_bytes(8, "little") + block[8:]
                f.write(chunk)
                h.update(chunk)
        os.chmod(path, 0o644)
        self.huge_sha = h.hexdigest()


@pytest.fixture(scope="session")
def workbase():
    base = tempfile.mkdtemp(prefix="poolftpd-it-")
    os.chmod(base, 0o755)
    yield Path(base)
    # Nothing may outlive the suite: any process naming our temp dir is ours.
    left = pids_with_cmdline(base.encode())
    for pid in left:
        kill_quietly(pid)
    shutil.rmtree(base, ignore_errors=True)
    assert not left, f"processes left behind by the suite: {sorted(left)}"


_report_dirs = [0]


@pytest.fixture(autouse=True)
def sanitizer_reports_of_the_test(request, workbase):
    """Points the sanitizer options of every process this test starts (tools,
    scripts; servers use their own directory) at a directory of the test's
    own. After the test, a report there or in a running server's directory
    fails it, with the report's text."""
    _report_dirs[0] += 1
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:100]
    log_dir = make_report_dir(workbase / "san" / f"{_report_dirs[0]:04d}-{name}")
    os.chmod(log_dir.parent, 0o755)
    saved = {k: os.environ.get(k) for k in SAN_VARS}
    os.environ.update(sanitizer_env(log_dir))
    yield log_dir
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    problems = sanitizer_reports(log_dir)
    for s in list(LIVE_SERVERS):
        problems.extend(s.sanitizer_problems())
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def tree(workbase):
    t = Tree(workbase / "tree")
    t.base.mkdir()
    t.build()
    return t


@pytest.fixture(scope="session")
def huge(tree):
    tree.make_huge()
    return tree


@pytest.fixture(scope="session", autouse=True)
def binaries():
    if not os.access(POOLFTPD, os.X_OK):
        pytest.exit(f"missing {POOLFTPD} (run `make all`)", returncode=1)


@pytest.fixture(scope="session")
def tools():
    missing = [str(p) for p in (FTPWHO, FTPCOUNT) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"missing binaries (run `make all`): {', '.join(missing)}")


@pytest.fixture(scope="module", params=["root", "nobody"])
def identity(request):
    if request.param == "root" and not IS_ROOT:
        pytest.skip("the root variant needs the tests to run as root")
    return Identity(request.param)


def _stop_all(servers):
    problems = []
    for s in servers:
        problems.extend(s.stop())
    if problems:
        pytest.fail("server teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def server(identity, tree, workbase):
    """The default server of a module, started as `identity`."""
    s = Server(identity, tree, workbase)
    s.start()
    yield s
    _stop_all([s])


@pytest.fixture
def server_factory(identity, tree, workbase):
    """make(settings={...}, ident=..., extra=[...], start=True, args=[...])"""
    servers = []

    def make(start=True, args=(), daemon=False, **kw):
        s = Server(identity, tree, workbase, **kw)
        servers.append(s)
        if start:
            s.start(extra_args=args, daemon=daemon)
        return s

    yield make
    _stop_all(servers)
