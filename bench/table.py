"""The results table of `make bench`: medians of every figure per server,
the poolftpd / best peer ratio, footnotes for failures, written as markdown
to BUILD/bench/results.md (and the raw runs to raw.json). Used by
bench/run_bench.py."""

import datetime
import json
import os
import platform
import statistics
import time

from procs import fmt_int, log, num
from servers import DIR_ENTRIES

SERVER_NAMES = ("poolftpd", "vsftpd", "pure-ftpd")
# The column of the --baseline build: a second poolftpd, measured like a peer
# but never counted as one (the ratio column compares with vsftpd and
# Pure-FTPd only; the delta column compares with it).
BASE = "poolftpd-base"
POOLFTPDS = ("poolftpd", BASE)
# The "batching" big runs pass ftpbench --rcvlowat this many bytes, so the
# client is woken once per that much data instead of once per 64 KiB segment
# (over loopback the sender's CPU includes waking the client; README).
BATCH_RCVLOWAT = 256 * 1024


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------

class Table:
    def __init__(self, bench, prof):
        self.b = bench
        self.prof = prof
        self.rows = []        # (label, cells in server order, ratio, delta)
        self.footnotes = []
        self.deltas = {}      # label -> % of the current build against the baseline
        self.has_base = any(s.name == BASE for s in bench.servers)

    def row(self, label, cells, ratio="—", delta=None):
        """cells: a list in server order, or {server: cell} (others get "—")."""
        if isinstance(cells, dict):
            cells = [cells.get(s.name, "—") for s in self.b.servers]
        self.rows.append((label, cells, ratio, delta))

    def delta(self, label, new, base, what=""):
        """The delta cell: the current build against the baseline, in %
        (`what` names the figure when the row holds several)."""
        if not self.has_base:
            return None
        if new is None or not base:
            return "—"
        pct = (new - base) / base * 100
        self.deltas[label] = round(pct, 2)
        return f"{what}{pct:+.1f} %"

    def note(self, text):
        if text not in self.footnotes:
            self.footnotes.append(text)
        return f"[{self.footnotes.index(text) + 1}]"

    def runs(self, server, mode, tag=None):
        return [r for r in self.b.raw["runs"]
                if r["server"] == server and r["mode"] == mode and r["tag"] == tag]

    def cell_values(self, server, mode, getter, valid=None, skip=None, tag=None):
        """Median of getter over the runs, and a footnote mark for failures
        (those whose text starts with `skip` concern another row)."""
        vals, mark, bad = [], "", []
        for rec in self.runs(server, mode, tag):
            r = rec["result"]
            if rec["error"]:
                bad.append(rec["error"])
            if not r:
                continue
            samples = [x for x in r.get("failure_samples") or []
                       if not (skip and str(x.get("text", "")).startswith(skip))]
            if r.get("failures") and (samples or not r.get("failure_samples")):
                n = sum(x.get("count", 0) for x in samples) or r["failures"]
                text = samples[0].get("text", "?") if samples else "?"
                bad.append(f"{n} failure{'s' if n != 1 else ''}, e.g. {text!r}")
            v = getter(rec)
            if v is None:
                continue
            if valid is not None:
                why = valid(r)
                if why:
                    bad.append(why)
                    continue
            vals.append(v)
        if bad:
            what = f"{mode} ({tag})" if tag else mode
            mark = " " + self.note(f"{server} {what}: " + "; ".join(dict.fromkeys(bad)))
        return (statistics.median(vals) if vals else None), mark

    def add(self, label, better, getter, mode, digits, valid=None, skip=None, tag=None):
        cells, values = [], {}
        for s in self.b.servers:
            if s.unavailable:
                cells.append("not run")
                continue
            v, mark = self.cell_values(s.name, mode, getter, valid, skip, tag)
            values[s.name] = v
            cells.append(("n/a" if v is None else num(v, digits)) + mark)
        self.row(label, cells, self.ratio(values, better),
                 self.delta(label, values.get("poolftpd"), values.get(BASE)))

    def ratio(self, values, better):
        own = values.get("poolftpd")
        peers = [v for k, v in values.items() if k not in POOLFTPDS and v]
        if not own or not peers or better is None:
            return "—"
        best = max(peers) if better == "up" else min(peers)
        return f"{own / best:.2f}×"

    def build(self):
        p = self.prof
        expect = DIR_ENTRIES

        def list_valid(key):
            def check(r):
                n = (r.get("list") or {}).get(key)
                if n is None or n < expect:
                    return f"{key} = {n}, not {fmt_int(expect)}"
                return None
            return check
        g = lambda *keys: (lambda rec: dig(rec["result"], keys))
        self.add(f"login: sessions/s ({p.clients} clients, {p.login_secs} s) ↑", "up",
                 g("sessions_per_sec"), "login", 0)
        self.add("login: server CPU ms/session ↓", "down", cpu_per_session, "login", 3)
        self.add(f"small 4 KiB RETR: sessions/s ({p.clients} clients, {p.small_secs} s) ↑", "up",
                 g("sessions_per_sec"), "small", 0)
        self.add("big 1 GiB RETR: MB/s (1 client) ↑", "up", g("mb_per_sec"), "big", 0)
        self.add("big: server CPU ms/GB ↓", "down", cpu_per_gb, "big", 0)
        iperf = [r["mb_per_sec"] for r in self.b.raw["iperf3"] if r["mb_per_sec"]]
        ip = statistics.median(iperf) if iperf else None
        ipcell = num(ip, 0) if ip else ("n/a " + self.note(
            self.b.raw.get("iperf3_error") or "iperf3 failed"))
        self.row("iperf3 loopback, 1 stream: MB/s (the ceiling)",
                 [ipcell] + ["same"] * (len(self.b.servers) - 1))
        if ip:
            self.add("big as a fraction of iperf3 ↑", "up",
                     lambda rec: dig(rec["result"], ("mb_per_sec",)) / ip
                     if dig(rec["result"], ("mb_per_sec",)) else None, "big", 2)
        lowat = f"{BATCH_RCVLOWAT // 1024} KiB"
        self.add(f"big, batching client (SO_RCVLOWAT {lowat}): MB/s ↑", "up",
                 g("mb_per_sec"), "big", 0, tag="batching")
        self.add("big, batching client: server CPU ms/GB ↓", "down", cpu_per_gb, "big", 0,
                 tag="batching")
        self.add(f"LIST of {fmt_int(DIR_ENTRIES)} entries: ms ↓", "down",
                 g("list", "list_ms"), "list", 0, list_valid("list_entries"), skip="MLSD")
        self.add(f"MLSD of {fmt_int(DIR_ENTRIES)} entries: ms ↓", "down",
                 g("list", "mlsd_ms"), "list", 0, list_valid("mlsd_entries"), skip="LIST")
        n = p.idle_sessions
        self.add(f"idle {fmt_int(n)} sessions: PSS kB/session ↓", "down",
                 g("idle", "pss_kb_per_session"), "idle", 0)
        self.add(f"idle {fmt_int(n)} sessions: time to log them in, s ↓", "down",
                 g("idle", "login_s"), "idle", 2)
        self.add(f"idle {fmt_int(n)} sessions: server processes", None,
                 g("idle", "server_processes"), "idle", 0)
        self.many_rows()
        self.poller_rows()

    def many_rows(self):
        """The many-sessions part, for poolftpd and the baseline build."""
        n = self.prof.many_sessions
        held, ftpwho, pss, text_ms = {}, {}, {}, {}
        for name, key in (("poolftpd", "many"), (BASE, "many_base")):
            if name == BASE and not self.has_base:
                continue
            rec = self.b.raw.get(key)
            if rec is None:
                held[name] = "not run"
            else:
                r = rec["result"] or {}
                i = r.get("idle") or {}
                count = i.get("sessions") or 0
                ok = count >= n and not r.get("failures") and not rec["error"]
                if ok:
                    pss[name] = i.get("pss_kb_per_session")
                    held[name] = f"yes, PSS {num(pss[name], 0)} kB/session, " \
                                 f"login {num(i.get('login_s'), 1)} s"
                else:
                    why = rec["error"] or ""
                    if r.get("failures"):
                        smp = (r.get("failure_samples") or [{}])[0]
                        why += f" {r['failures']} failures, e.g. {smp.get('text', '?')!r}"
                    held[name] = f"no ({fmt_int(count)} held) " + self.note(
                        f"{name} {fmt_int(n)} sessions: {why.strip()}")
            t = (rec or {}).get("during") or {}
            if t.get("text_ms"):
                text_ms[name] = statistics.median(t["text_ms"])
                cell = f"{num(text_ms[name], 1)} text, " \
                       f"{num(statistics.median(t['json_ms']), 1) if t.get('json_ms') else 'n/a'} --json"
                if t.get("text_cpu_ms") and t.get("json_cpu_ms"):
                    cell += f" (CPU {num(statistics.median(t['text_cpu_ms']), 1)} / " \
                            f"{num(statistics.median(t['json_cpu_ms']), 1)})"
                if t.get("error"):
                    cell += " " + self.note(f"{name} ftpwho: {t['error']}")
            else:
                cell = "n/a" + (" " + self.note(f"{name} ftpwho: {t['error']}")
                                if t.get("error") else "")
            ftpwho[name] = cell
        label = f"{fmt_int(n)} sessions held"
        self.row(label, held, delta=self.delta(label + ": PSS kB/session", pss.get("poolftpd"),
                                               pss.get(BASE), "PSS "))
        label = f"ftpwho with {fmt_int(n)} sessions: ms (median of {self.prof.ftpwho_runs}) ↓"
        self.row(label, ftpwho, delta=self.delta(label + ": text", text_ms.get("poolftpd"),
                                                 text_ms.get(BASE), "text "))

    def poller_rows(self):
        """Login with ftpwho run in a tight loop beside it, at normal priority
        and under SCHED_IDLE, against the same runs without it; for poolftpd
        and the baseline build, each in its own column."""
        rows = {}     # label -> {server: cell}, in first-seen order
        for name in POOLFTPDS:
            if name == BASE and not self.has_base:
                continue
            for label, cell in self.poller_cells(name):
                rows.setdefault(label, {})[name] = cell
        for label, cells in rows.items():
            self.row(label, cells)

    def poller_cells(self, server):
        runs = [r for r in self.b.raw["poller"] if r["result"] and
                r.get("server", "poolftpd") == server]

        def med(vals):
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else None

        def tagged(tag):
            return [r for r in runs if r["tag"] == tag]
        pairs = self.prof.poller_pairs
        label = f"login with an ftpwho poller ({pairs} paired run{'s' if pairs != 1 else ''}): "
        off = med([dig(r["result"], ("sessions_per_sec",)) for r in tagged("no-poller")])
        if not off:
            return [(label + "sessions/s", "not run")]
        out = []
        c_off = med([cpu_per_session(r) for r in tagged("no-poller")])

        def rel(v, base):
            return f" ({(v - base) / base * 100:+.1f} %)" if v and base else ""
        for tag, what in (("poller", "ftpwho in a tight loop, normal priority"),
                          ("poller-copy", "control: the same loop reading a copy of the "
                                          "scoreboard (same CPU, no shared memory)"),
                          ("poller-idle", "ftpwho in a tight loop under SCHED_IDLE")):
            rs = tagged(tag)
            if not rs:
                continue
            on = med([dig(r["result"], ("sessions_per_sec",)) for r in rs])
            c_on = med([cpu_per_session(r) for r in rs])
            polls = [r["poller"] for r in rs if r.get("poller")]
            rate = med([p.get("polls_per_sec") for p in polls])
            cpus = med([p.get("cpus") for p in polls])
            each = med([p.get("cpu_ms_per_poll") for p in polls])
            out.append((f"{label}{what}: sessions/s without / with ↑",
                        f"{num(off, 0)} / {num(on, 0)}{rel(on, off)}"))
            if c_off and c_on:
                out.append((f"{label}{what}: server CPU ms/session without / with ↓",
                            f"{num(c_off, 3)} / {num(c_on, 3)}{rel(c_on, c_off)}"))
            out.append((f"{label}{what}: the poller itself",
                        f"{num(rate, 0)} ftpwho runs/s, {num(each, 2)} ms CPU each, "
                        f"{num(cpus, 2)} CPUs"))
        live, ctl = tagged("poller"), tagged("poller-copy")
        if live and ctl:
            # What reading the live scoreboard costs beyond any process
            # using the same CPU: the target's "costs sessions nothing".
            s_live = med([dig(r["result"], ("sessions_per_sec",)) for r in live])
            s_ctl = med([dig(r["result"], ("sessions_per_sec",)) for r in ctl])
            c_live = med([cpu_per_session(r) for r in live])
            c_ctl = med([cpu_per_session(r) for r in ctl])
            cell = f"sessions/s {num(s_ctl, 0)} / {num(s_live, 0)}{rel(s_live, s_ctl)}"
            if c_live and c_ctl:
                cell += f"; server CPU ms/session {num(c_ctl, 3)} / {num(c_live, 3)}{rel(c_live, c_ctl)}"
            out.append((f"{label}the scoreboard's own cost: poller on the copy / "
                        "on the live scoreboard", cell))
        return out

    def markdown(self, machine, header_notes):
        cols = [s.name for s in self.b.servers]
        out = [machine, ""]
        last = " | poolftpd / best peer |" + (" poolftpd vs baseline |" if self.has_base else "")
        out.append("| figure | " + " | ".join(cols) + last)
        out.append("| --- | " + " | ".join("---:" for _ in cols) + " | ---: |"
                   + (" ---: |" if self.has_base else ""))
        for label, cells, ratio, delta in self.rows:
            out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |"
                       + (f" {delta or '—'} |" if self.has_base else ""))
        out.append("")
        if self.has_base:
            out.append(f"{BASE} is poolftpd from the --baseline build, run in the same "
                       "matrix (same ftpbench, same rotation); the last column is "
                       f"(poolftpd - {BASE}) / {BASE}, so + is better on ↑ rows and - on "
                       "↓ rows. The ratio column compares with vsftpd and Pure-FTPd only.")
        out.append("↑ more is better, ↓ less is better; the ratio divides poolftpd's figure by "
                   "the best peer's (above 1 is better for ↑ rows, below 1 for ↓ rows). "
                   "MB = 10^6 bytes. PSS/session is the whole server's PSS (master, spare "
                   "workers, helper processes) divided by the sessions held. ftpbench discards "
                   "what it receives in the kernel (MSG_TRUNC) and the servers send with "
                   "sendfile, while iperf3 copies at both ends, so a fraction above 1 is possible.")
        for line in header_notes:
            out.append(f"- {line}")
        for i, text in enumerate(self.footnotes, 1):
            out.append(f"- [{i}] {text}")
        return "\n".join(out) + "\n"


def cpu_per_session(rec):
    """Server CPU ms per session: from the server's cgroup when there is
    one, else ftpbench's process-tree figure."""
    r = rec.get("result") or {}
    ms = rec.get("cgroup_cpu_ms")
    if ms is None:
        return dig(r, ("server_cpu_ms_per_session",))
    n = r.get("sessions")
    return ms / n if n else None


def cpu_per_gb(rec):
    """Server CPU ms per 10^9 bytes sent, as cpu_per_session."""
    r = rec.get("result") or {}
    ms = rec.get("cgroup_cpu_ms")
    if ms is None:
        return dig(r, ("server_cpu_ms_per_gb",))
    b = r.get("bytes")
    return ms / (b / 1e9) if b else None


def dig(d, keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d if isinstance(d, (int, float)) else None


def machine_line(prof):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {cpu}, {os.cpu_count()} cores, {mem} memory, Linux "
            f"{platform.release()}, {now}; {prof.name} run, median of {prof.reps} "
            f"repetition{'s' if prof.reps != 1 else ''}.")


def report(args, prof, bench, header_notes, top, t_start, status):
    notes = []
    for s in bench.servers:
        if s.unavailable:
            notes.append(f"{s.name}: not run: {s.unavailable}")
        else:
            extra = f" ({'; '.join(s.notes)})" if s.notes else ""
            notes.append(f"{s.name} {s.version}{extra}")
    notes.extend(header_notes)
    elapsed = time.monotonic() - t_start
    notes.append(f"harness wall time {elapsed / 60:.1f} min" +
                 ("; INTERRUPTED, partial results" if status else ""))
    table = Table(bench, prof)
    table.build()
    md = table.markdown(machine_line(prof), notes)
    bench.raw["servers"] = {s.name: {"version": s.version, "port": s.port, "argv": s.argv,
                                     "unavailable": s.unavailable, "notes": s.notes}
                            for s in bench.servers}
    bench.raw["wall_s"] = round(elapsed, 1)
    if table.has_base:
        bench.raw["baseline"] = {"build": args.baseline,
                                 "delta_pct": table.deltas}
    with open(os.path.join(top, "raw.json"), "w") as f:
        json.dump(bench.raw, f, indent=1)
    with open(os.path.join(top, "results.md"), "w") as f:
        f.write(md)
    log("")
    log(md)
    log(f"bench: written {os.path.relpath(os.path.join(top, 'results.md'))} and "
        f"{os.path.relpath(os.path.join(top, 'raw.json'))}")
    return status

