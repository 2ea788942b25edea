#!/usr/bin/python3
"""`make bench`: poolftpd against vsftpd and Pure-FTPd on loopback.

Builds a fixture tree under BUILD/bench/tree, starts poolftpd and (when they
can be fetched and started) Debian's vsftpd and Pure-FTPd, unpacked under
BUILD/bench/peers, all serving that tree anonymously and read-only on
127.0.0.1, drives them with BUILD/ftpbench in every mode, interleaved so
machine drift hits all servers alike, and prints one markdown table of
medians (also written to BUILD/bench/results.md; every run's raw JSON goes to
BUILD/bench/raw.json). With --baseline DIR, the poolftpd of another build
directory (say, the parent commit's) runs too, as "poolftpd-base", in the
same matrix and the poolftpd-only parts, and the table gets its column and
a delta column.

Python 3 standard library only. Run as root for the full comparison (the
peers run as root, and poolftpd's workers then chroot and drop to
nobody/nogroup). Every process the harness starts is stopped by PID (TERM,
then KILL) on exit, on errors and on Ctrl-C; nothing else is ever signalled.

  /usr/bin/python3 bench/run_bench.py --build build [--quick] [--baseline DIR]
"""

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep bench/ free of __pycache__
from procs import (CGROUPS, REAPER, fmt_int, kernel_notes, last_line, log, num,
                   raise_own_limits, run)
from servers import (ANON_PASS, ANON_USER, BIG_NAME, BIG_SIZE, DIR_ENTRIES, DIR_NAME,
                     SMALL_NAME, SMALL_SIZE, Apt, Server, ensure_ftp_user, fetch_peer,
                     free_port, home_wrapper, make_tree, prepare_poolftpd, prepare_pure,
                     prepare_vsftpd)
from table import BASE, BATCH_RCVLOWAT, POOLFTPDS, SERVER_NAMES, cpu_per_gb, cpu_per_session, report

MODES = ("login", "small", "big", "list", "idle")
ALL_PARTS = MODES + ("poller", "many")  # --modes: matrix modes, then the poolftpd-only parts


class Profile:
    """Durations, counts and repetitions of one kind of run."""

    def __init__(self, name, **kw):
        self.name = name
        self.__dict__.update(kw)


FULL = Profile(
    "full", reps=5, clients=32, login_secs=10, small_secs=10, list_repeat=3,
    idle_sessions=1000, idle_hold=2, many_sessions=10000, many_hold=20,
    ftpwho_runs=20, iperf_secs=5, poller_pairs=3, big_repeat=3)
QUICK = Profile(
    "quick", reps=2, clients=32, login_secs=3, small_secs=3, list_repeat=1,
    idle_sessions=200, idle_hold=1, many_sessions=2000, many_hold=5,
    ftpwho_runs=20, iperf_secs=2, poller_pairs=1, big_repeat=1)


# --------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------

class Bench:
    def __init__(self, args, prof, paths, servers, small_bytes):
        self.args = args
        self.prof = prof
        self.paths = paths
        self.servers = servers
        self.small = small_bytes
        # "many" is the current build's part, "many_base" the baseline's.
        self.raw = {"runs": [], "iperf3": [], "poller": [], "many": None, "many_base": None}
        self.iperf_port = None
        self.iperf = None

    # ---- ftpbench -----------------------------------------------------------
    def mode_args(self, mode, many=False, tag=None):
        p = self.prof
        if mode == "login":
            return ["-c", p.clients, "-d", p.login_secs], p.login_secs + 120
        if mode == "small":
            return ["-c", p.clients, "-d", p.small_secs, "-f", f"/{SMALL_NAME}",
                    "-s", SMALL_SIZE], p.small_secs + 120
        if mode == "big":
            batch = ["--rcvlowat", BATCH_RCVLOWAT] if tag == "batching" else []
            return ["-c", 1, "-r", p.big_repeat, "-f", f"/{BIG_NAME}", "-s", BIG_SIZE,
                    *batch], 600
        if mode == "list":
            return ["-D", f"/{DIR_NAME}", "-e", DIR_ENTRIES, "-r", p.list_repeat], \
                120 + 120 * p.list_repeat
        if mode == "idle":
            n = p.many_sessions if many else p.idle_sessions
            hold = p.many_hold if many else p.idle_hold
            return ["-n", n, "-t", hold], 180 + hold + n // 20
        raise ValueError(mode)

    def ftpbench_argv(self, srv, mode, many=False, tag=None):
        extra, timeout = self.mode_args(mode, many, tag)
        argv = [self.args.ftpbench, "-H", "127.0.0.1", "-p", srv.port, "-u", ANON_USER,
                "-P", ANON_PASS, *extra, "--server-pid", srv.pid, "--json",
                "--timeout", 60, mode]
        return [str(a) for a in argv], timeout

    def ftpbench(self, srv, mode, rep, many=False, tag=None, during=None):
        """One ftpbench run; the record (also kept in raw.json)."""
        argv, timeout = self.ftpbench_argv(srv, mode, many, tag)
        rec = {"server": srv.name, "mode": mode, "rep": rep, "tag": tag, "argv": argv,
               "rc": None, "wall_s": None, "result": None, "error": None, "stderr": ""}
        self.raw["runs"].append(rec)
        if not srv.running():
            rec["error"] = "server not running"
            return rec
        cpu0 = CGROUPS.usage_ms(srv.name)
        t0 = time.monotonic()
        # Files, not pipes: nothing reads ftpbench's output while `during`
        # runs, and a full pipe would stall it.
        out_path = os.path.join(self.paths["run"], "ftpbench.stdout")
        err_path = os.path.join(self.paths["run"], "ftpbench.stderr")
        with open(out_path, "w") as out_f, open(err_path, "w") as err_f:
            p = REAPER.spawn("ftpbench", argv, stdout=out_f, stderr=err_f)
        try:
            extra = during(p) if during else None
            p.wait(timeout=max(1, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            REAPER.stop(p, grace=3)
            rec["error"] = f"ftpbench did not finish within {timeout} s"
        finally:
            REAPER.stop(p, grace=3)   # no-op once it has exited
        with open(out_path, errors="replace") as f:
            out = f.read()
        with open(err_path, errors="replace") as f:
            err = f.read()
        rec["wall_s"] = round(time.monotonic() - t0, 3)
        cpu1 = CGROUPS.usage_ms(srv.name)
        if cpu0 is not None and cpu1 is not None:
            rec["cgroup_cpu_ms"] = round(cpu1 - cpu0, 3)
        rec["rc"] = p.returncode
        rec["stderr"] = (err or "")[-2000:]
        if extra is not None:
            rec["during"] = extra
        try:
            rec["result"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        except (ValueError, IndexError):
            rec["error"] = rec["error"] or f"unparsable ftpbench output: {out[-200:]!r}"
        if rec["result"] is None and not rec["error"]:
            rec["error"] = f"ftpbench exited {p.returncode}: {last_line(err)}"
        if p.returncode == 2:
            rec["error"] = f"ftpbench usage error: {last_line(err)}"
        if not srv.running():
            rec["error"] = (rec["error"] or "") + " (server died)"
        return rec

    def summary(self, rec):
        r = rec["result"] or {}
        mode = rec["mode"]
        if rec["error"] and not r:
            return f"ERROR {rec['error']}"
        if mode in ("login", "small"):
            s = f"{r.get('sessions_per_sec', 0):,.0f} sessions/s, " \
                f"{num(cpu_per_session(rec), 3)} ms CPU/session"
        elif mode == "big":
            s = f"{num(r.get('mb_per_sec'), 0)} MB/s, {num(cpu_per_gb(rec), 0)} ms CPU/GB"
        elif mode == "list":
            li = r.get("list") or {}
            s = f"LIST {num(li.get('list_ms'), 1)} ms ({li.get('list_entries')}), " \
                f"MLSD {num(li.get('mlsd_ms'), 1)} ms ({li.get('mlsd_entries')})"
        else:
            i = r.get("idle") or {}
            s = f"{i.get('sessions')} held, PSS {num(i.get('pss_kb_per_session'), 0)} kB/session, " \
                f"login {num(i.get('login_s'), 2)} s"
        if r.get("failures"):
            samples = r.get("failure_samples") or []
            s += f"; {r['failures']} failures" + (f" ({samples[0].get('text')!r})" if samples else "")
        if rec["error"]:
            s += f"; {rec['error']}"
        return s

    def ensure_running(self, srv):
        """Restarts a server that died; marks it unavailable if it does not
        come back."""
        if srv.unavailable or srv.running():
            return not srv.unavailable
        log(f"bench: {srv.name} is not running (status {srv.popen.returncode}); restarting")
        srv.notes.append(f"died during the run (status {srv.popen.returncode}) and was restarted; "
                         f"see {os.path.relpath(srv.logfile)}")
        REAPER._forget(srv.popen)
        try:
            srv.start(self.small)
            return True
        except RuntimeError as e:
            srv.unavailable = f"died during the run and did not restart: {e}"
            return False

    # ---- iperf3 -------------------------------------------------------------
    def start_iperf(self):
        if not shutil.which("iperf3"):
            self.raw["iperf3_error"] = "iperf3 not installed (make deps-bench)"
            return
        self.iperf_port = free_port()
        out = open(os.path.join(self.paths["run"], "iperf3.out"), "ab")
        self.iperf = REAPER.spawn("iperf3", ["iperf3", "-s", "-B", "127.0.0.1", "-p",
                                             str(self.iperf_port)], stdout=out,
                                  stderr=subprocess.STDOUT)
        out.close()

    def iperf_once(self, rep):
        if self.iperf is None:
            return
        rec = {"rep": rep, "mb_per_sec": None, "error": None}
        for _ in range(20):
            r = run(["iperf3", "-c", "127.0.0.1", "-p", str(self.iperf_port), "-t",
                     str(self.prof.iperf_secs), "-J"], timeout=self.prof.iperf_secs + 30)
            try:
                j = json.loads(r.stdout)
            except ValueError:
                j = {}
            if "error" in j and "connect" in str(j["error"]):
                time.sleep(0.25)     # the server is still starting
                continue
            bps = (j.get("end", {}).get("sum_received") or {}).get("bits_per_second")
            if bps:
                rec["mb_per_sec"] = bps / 8 / 1e6
            else:
                rec["error"] = j.get("error") or last_line(r.stderr)
            break
        self.raw["iperf3"].append(rec)
        log(f"  iperf3 loopback    {num(rec['mb_per_sec'], 0)} MB/s"
            + (f" ({rec['error']})" if rec["error"] else ""))

    # ---- the matrix ---------------------------------------------------------
    def warm(self, mode):
        """Brings what `mode` serves into the page and inode caches, so no
        server pays for a cold cache that another server's run just warmed
        (this VM's DAMON pages out memory idle for about a minute, so the
        1 GiB file is partly on disk again by the next repetition)."""
        tree = self.paths["tree"]
        if mode == "big":
            buf = bytearray(8 << 20)
            fd = os.open(os.path.join(tree, BIG_NAME), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                while os.readv(fd, [buf]) > 0:
                    pass
            finally:
                os.close(fd)
        elif mode == "list":
            with os.scandir(os.path.join(tree, DIR_NAME)) as it:
                for e in it:
                    e.stat(follow_symlinks=False)

    def matrix(self):
        servers = [s for s in self.servers if not s.unavailable]
        for rep in range(self.prof.reps):
            log(f"bench: repetition {rep + 1}/{self.prof.reps}")
            # Each repetition starts with the next server, so whatever drifts
            # between consecutive runs does not always favour the same one.
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for mode in (m for m in MODES if m in self.args.modes):
                for srv in order:
                    if not self.ensure_running(srv):
                        continue
                    self.warm(mode)
                    rec = self.ftpbench(srv, mode, rep)
                    log(f"  {mode:<6} {srv.name:<10} {self.summary(rec)}")
                    if mode == "big" and self.ensure_running(srv):
                        rec = self.ftpbench(srv, mode, rep, tag="batching")
                        log(f"  big, batching client {srv.name:<10} {self.summary(rec)}")
                if mode == "big":
                    self.iperf_once(rep)

    # The poller variants, in the order of the first pair's runs: none, ftpwho
    # in a tight loop at normal priority, and the same under SCHED_IDLE (it
    # only gets CPU time nobody else wants).
    # (tag, scheduling policy, which file ftpwho reads). "poller-copy" is the
    # control: the same loop reading a snapshot copy of the scoreboard, so it
    # uses the same CPU but shares no memory with the server; what "poller"
    # costs beyond it is the cost of reading the live scoreboard.
    POLLERS = (("no-poller", None, None), ("poller", "normal", "live"),
               ("poller-copy", "normal", "copy"), ("poller-idle", "SCHED_IDLE", "live"))

    def poller(self, srv, pair):
        """One paired run of `srv`: login with each poller of POLLERS."""
        sb = srv.scoreboard
        ftpwho = os.path.join(srv.build, "ftpwho")   # the tools of the server's build
        copy = sb + ".copy"
        k = pair % len(self.POLLERS)   # rotate the order pair by pair
        for tag, policy, source in self.POLLERS[k:] + self.POLLERS[:k]:
            if not self.ensure_running(srv):
                return
            if source == "copy":
                shutil.copyfile(sb, copy)
            target = copy if source == "copy" else sb
            during = None
            stop = threading.Event()
            state = {"polls": 0, "errors": 0, "cpu_s": 0.0, "t0": None, "t1": None}

            def loop(policy=policy, state=state, stop=stop, target=target):
                # ftpwho in a tight loop, as an operator's `watch -n0` would;
                # wait4 gives each run's CPU time, the poller's own cost.
                devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0)
                           for fd in (1, 2)]
                if policy == "SCHED_IDLE":
                    # This thread only (Linux policies are per thread), and
                    # the ftpwho processes it spawns inherit it. (glibc's
                    # posix_spawnattr refuses SCHED_IDLE itself.)
                    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
                state["t0"] = time.monotonic()
                while not stop.is_set():
                    pid = os.posix_spawn(ftpwho, [ftpwho, "-f", target], os.environ,
                                         file_actions=devnull)
                    _, status, ru = os.wait4(pid, 0)
                    state["polls"] += 1
                    state["errors"] += status != 0
                    state["cpu_s"] += ru.ru_utime + ru.ru_stime
                state["t1"] = time.monotonic()
            th = threading.Thread(target=loop, daemon=True)

            if policy:
                def during(_proc, th=th):
                    th.start()
                    return None
            rec = self.ftpbench(srv, "login", pair, tag=tag, during=during)
            if policy:
                stop.set()
                th.join()
                secs = (state["t1"] or 0) - (state["t0"] or 0)
                rec["poller"] = {
                    "policy": policy, "source": source,
                    "polls": state["polls"], "errors": state["errors"],
                    "cpu_s": round(state["cpu_s"], 3), "secs": round(secs, 3),
                    "polls_per_sec": state["polls"] / secs if secs > 0 else None,
                    "cpus": state["cpu_s"] / secs if secs > 0 else None,
                    "cpu_ms_per_poll": state["cpu_s"] * 1000 / state["polls"]
                    if state["polls"] else None}
            self.raw["poller"].append(rec)
            extra = ""
            if policy:
                pr = rec["poller"]
                extra = f" [poller ({policy}): {pr['polls']} ftpwho runs, " \
                        f"{num(pr['polls_per_sec'], 0)}/s, {num(pr['cpu_ms_per_poll'], 2)} ms " \
                        f"CPU each, using {num(pr['cpus'], 2)} CPUs]"
            label = {"no-poller": "without poller", "poller": "with poller",
                     "poller-copy": "with poller on a copy",
                     "poller-idle": "with idle poller"}[tag]
            log(f"  login  {srv.name:<10} {label}: {self.summary(rec)}{extra}")

    def many(self, srv, warmup=False):
        """poolftpd holding many idle sessions; ftpwho timed over that
        scoreboard (the ftpwho of the server's own build: the baseline's
        scoreboard format may differ). `warmup`: a run whose figures are
        discarded (see run())."""
        if not self.ensure_running(srv):
            return
        n = self.prof.many_sessions
        ftpwho = os.path.join(srv.build, "ftpwho")
        ftpcount = os.path.join(srv.build, "ftpcount")
        timing = {"text_ms": [], "json_ms": [], "text_cpu_ms": [], "json_cpu_ms": [],
                  "sessions_seen": None, "error": None}

        def during(proc):
            # Wait until the scoreboard shows the sessions, then time ftpwho.
            deadline = time.monotonic() + 120 + n // 20
            seen = 0
            while time.monotonic() < deadline and proc.poll() is None:
                r = run([ftpcount, "-f", srv.scoreboard, "--json"], timeout=30)
                try:
                    seen = json.loads(r.stdout).get("sessions", 0)
                except ValueError:
                    seen = 0
                if seen >= n:
                    break
                time.sleep(0.5)
            timing["sessions_seen"] = seen
            if seen < n:
                timing["error"] = f"only {seen} sessions on the scoreboard"
                return timing
            for _ in range(self.prof.ftpwho_runs):
                for key, extra in (("text", []), ("json", ["--json"])):
                    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    r = subprocess.run([ftpwho, "-f", srv.scoreboard, *extra],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    ms = (time.perf_counter() - t0) * 1000
                    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if r.returncode == 0:
                        timing[key + "_ms"].append(ms)
                        timing[key + "_cpu_ms"].append(
                            (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1000)
                    else:
                        timing["error"] = f"ftpwho exited {r.returncode}: {r.stderr[-200:]!r}"
            if proc.poll() is not None:
                timing["error"] = "the sessions ended before the ftpwho runs finished " \
                                  "(raise the hold time)"
            return timing
        log(f"bench: {srv.name} with {fmt_int(n)} idle sessions (ftpwho timed while they "
            f"are held)")
        rec = self.ftpbench(srv, "idle", 0, many=True, tag="many", during=during)
        if warmup:
            self.raw["many_warmup"] = rec
            log(f"  idle   {srv.name:<10} warm-up (discarded): {self.summary(rec)}")
            return
        self.raw["many_base" if srv.name == BASE else "many"] = rec
        log(f"  idle   {srv.name:<10} {self.summary(rec)}")
        t = rec.get("during") or timing
        if t["text_ms"]:
            cpu = lambda k: num(statistics.median(t[k]), 1) if t.get(k) else "n/a"
            log(f"  ftpwho over {fmt_int(t['sessions_seen'] or 0)} sessions: "
                f"{num(statistics.median(t['text_ms']), 1)} ms text, "
                f"{num(statistics.median(t['json_ms']), 1) if t['json_ms'] else 'n/a'} ms --json "
                f"(CPU {cpu('text_cpu_ms')} / {cpu('json_cpu_ms')} ms)")
        elif t.get("error"):
            log(f"  ftpwho: {t['error']}")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--quick", action="store_true", help="short run (about 3 minutes)")
    ap.add_argument("--reps", type=int, help="repetitions (default: 5, quick: 2)")
    ap.add_argument("--servers", default=",".join(SERVER_NAMES),
                    help="comma-separated subset of poolftpd,vsftpd,pure-ftpd")
    ap.add_argument("--ftpbench", help="load generator (default: BUILD/ftpbench)")
    ap.add_argument("--modes", default=",".join(ALL_PARTS),
                    help="comma-separated subset of " + ",".join(ALL_PARTS) + " (default: all)")
    ap.add_argument("--vsftpd-isolate", action="store_true",
                    help="vsftpd's stock isolate_network=YES (a network namespace per session)")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run the poolftpd of build directory DIR (say, the parent "
                         "commit's build) as \"poolftpd-base\", in the same matrix; the table "
                         "gets its column and a delta column")
    ap.add_argument("--check", action="store_true",
                    help="only set up: fixture, peers, servers serving the 4 KiB file, iperf3")
    a = ap.parse_args(argv)
    a.build = os.path.abspath(a.build)
    a.ftpbench = os.path.abspath(a.ftpbench or os.path.join(a.build, "ftpbench"))
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in a.servers:
        if s not in SERVER_NAMES:
            ap.error(f"unknown server {s!r}")
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in a.modes:
        if m not in ALL_PARTS:
            ap.error(f"unknown mode {m!r}")
    if "poolftpd" not in a.servers:
        ap.error("--servers must include poolftpd")
    if a.baseline is not None:
        a.baseline = baseline_build(ap, a.baseline)
        if a.baseline == a.build:
            ap.error(f"--baseline {a.baseline} is the build directory itself")
    return a


def baseline_build(ap, path):
    """The build directory of --baseline DIR: DIR itself when it holds the
    binaries, else DIR/build (a source tree whose build is done)."""
    d = os.path.abspath(path)
    if not os.access(os.path.join(d, "poolftpd"), os.X_OK) and \
            os.access(os.path.join(d, "build", "poolftpd"), os.X_OK):
        d = os.path.join(d, "build")
    for tool in ("poolftpd", "ftpwho", "ftpcount"):
        f = os.path.join(d, tool)
        if not os.access(f, os.X_OK):
            also = "" if d.endswith("/build") else \
                f" (nor {os.path.join(d, 'build', tool)})"
            ap.error(f"--baseline {path}: no executable {f}{also}: give a build directory "
                     f"holding poolftpd, ftpwho and ftpcount, or a source tree whose "
                     f"build/ does")
    return d


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def setup_servers(args, paths, tree, header_notes):
    """Server objects for the columns, in order; peers that cannot be fetched
    or configured are marked unavailable with the reason."""
    servers = [prepare_poolftpd(args.build, paths["run"], tree)]
    if args.baseline:
        servers.append(prepare_poolftpd(args.baseline, paths["run"], tree, BASE))
    apt = Apt(os.path.join(paths["peers"], "debs"))
    for name, rel in (("vsftpd", "usr/sbin/vsftpd"), ("pure-ftpd", "usr/sbin/pure-ftpd")):
        if name not in args.servers:
            continue
        if os.geteuid() != 0:
            s = Server(name)
            s.unavailable = "needs root (run make bench as root)"
            servers.append(s)
            continue
        try:
            root, version = fetch_peer(apt, paths["peers"], name, rel)
            ftp_pw, created = ensure_ftp_user(tree)
            if created:
                header_notes.append(created)
            wrap = home_wrapper(tree, ftp_pw.pw_dir)
            if name == "vsftpd":
                s = prepare_vsftpd(root, version, paths["run"], os.path.realpath(paths["empty"]),
                                   tree, wrap, args.vsftpd_isolate)
            else:
                s = prepare_pure(root, version, paths["run"], tree, wrap)
            if wrap:
                s.notes.append(f"user ftp's home {ftp_pw.pw_dir} bind-mounted to the tree "
                               f"in a private mount namespace")
        except RuntimeError as e:
            s = Server(name)
            s.unavailable = str(e)
        servers.append(s)
    return servers


def main(argv):
    args = parse_args(argv)
    prof = QUICK if args.quick else FULL
    if args.reps:
        prof.reps = args.reps
    for tool in ("poolftpd", "ftpwho", "ftpcount"):
        if not os.access(os.path.join(args.build, tool), os.X_OK):
            log(f"bench: {args.build}/{tool} is missing: run make first")
            return 2
    if not args.check and not os.access(args.ftpbench, os.X_OK):
        log(f"bench: {args.ftpbench} is missing: make {os.path.relpath(args.ftpbench)}")
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    top = os.path.join(args.build, "bench")
    paths = {k: os.path.join(top, k) for k in ("tree", "peers", "run", "empty")}
    header_notes = []
    bench = None
    status = 0
    t_start = time.monotonic()
    try:
        os.makedirs(top, exist_ok=True)
        shutil.rmtree(paths["run"], ignore_errors=True)
        for k in ("run", "empty"):
            os.makedirs(paths[k], exist_ok=True)
            os.chmod(paths[k], 0o755)
        nofile = raise_own_limits(header_notes, prof.many_sessions)
        if CGROUPS.setup():
            header_notes.append("server CPU: each server in its own cgroup (cpu.stat), so "
                                "exited and reparented session processes count too")
        else:
            header_notes.append("server CPU: ftpbench's --server-pid process tree (no cgroup2 "
                                "or not root): session processes that exit unreaped may be "
                                "missed")
        facts, knotes = kernel_notes(prof.many_sessions)
        header_notes.extend(knotes)

        small = make_tree(paths["tree"])
        tree = os.path.realpath(paths["tree"])
        log(f"bench: fixture ready in {time.monotonic() - t_start:.1f} s: {tree}")
        servers = setup_servers(args, paths, tree, header_notes)
        bench = Bench(args, prof, paths, servers, small)
        bench.raw.update({"profile": dict(prof.__dict__), "kernel": facts,
                          "rlimit_nofile": nofile})
        for s in servers:
            if s.unavailable:
                log(f"bench: {s.name}: not run: {s.unavailable}")
                continue
            try:
                s.start(small)
                log(f"bench: {s.name} {s.version} serving on 127.0.0.1:{s.port} (PID {s.pid})")
            except RuntimeError as e:
                if s.name in POOLFTPDS:
                    raise RuntimeError(f"{s.name} did not start: {e}")
                s.unavailable = f"did not start: {e}"
                log(f"bench: {s.name}: not run: {s.unavailable}")
        bench.start_iperf()
        if args.check:
            bench.iperf_once(0)
            log("bench: --check: every available server serves the fixture; stopping")
            return 0
        bench.matrix()
        builds = [s for s in servers if s.name in POOLFTPDS]
        # These parts run once per build, not in the rotated matrix, so they
        # must not favour a build by its place: measured with a fixed order,
        # whichever build ran first logged 10,000 sessions in 32 s against the
        # second's 8.4 s, and the reverse order gave 11.6 s against 5.6 s (the
        # first episode of 10,000 processes in a run pays for the kernel's
        # growth). So the poller's paired runs alternate between the builds,
        # pair by pair in a rotating order, and the 10,000-session hold runs
        # once as a discarded warm-up before each build's measured run.
        if "poller" in args.modes:
            for pair in range(prof.poller_pairs):
                order = builds[pair % len(builds):] + builds[:pair % len(builds)]
                for s in order:
                    log(f"bench: {s.name} login with and without a scoreboard poller "
                        f"(pair {pair + 1}/{prof.poller_pairs})")
                    bench.poller(s, pair)
        if "many" in args.modes:
            if len(builds) > 1:
                bench.many(builds[-1], warmup=True)
            for s in builds:
                bench.many(s)
    except KeyboardInterrupt:
        log("bench: interrupted; stopping what it started")
        status = 130
    except SystemExit as e:
        log("bench: terminated; stopping what it started")
        status = e.code if isinstance(e.code, int) else 1
    except (RuntimeError, OSError) as e:
        log(f"bench: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        REAPER.stop_all()
        CGROUPS.stop_members()
        CGROUPS.remove()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if bench is not None and not args.check:
            status = report(args, prof, bench, header_notes, top, t_start, status)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
