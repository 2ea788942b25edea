// ftpdctl's commands; see ctl.h.
#include "ctl.h"

#include <signal.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

#include "../common/format.h"
#include "../common/source.h"
#include "poolftpd/util/debug_signal.h"
#include "proc.h"

#ifndef POOLFTPD_CONFIG_FILE
#define POOLFTPD_CONFIG_FILE "/usr/local/etc/poolftpd.conf"
#endif
#ifndef POOLFTPD_SCOREBOARD_FILE
#define POOLFTPD_SCOREBOARD_FILE "/run/poolftpd/poolftpd.scoreboard"
#endif
#ifndef POOLFTPD_PID_FILE
#define POOLFTPD_PID_FILE "/run/poolftpd/poolftpd.pid"
#endif

namespace poolftpd::ftpdctl {

namespace {

constexpr char kProg[] = "ftpdctl";
constexpr int64_t kNsPerSec = 1'000'000'000;
// How often reload polls the scoreboard for the new generation.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

using tools::EscapeText;
using tools::JsonString;

void PrintErr(const std::string& message) {
  const std::string line = std::string(kProg) + ": " + message + "\n";
  std::fputs(line.c_str(), stderr);
}

bool PrintOut(const std::string& text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
         std::fflush(stdout) == 0;
}

std::string Num(int64_t v) { return std::to_string(v); }

// "2026-11-21 13:00:00 CET" in local time.
std::string LocalTime(int64_t epoch_s) {
  const time_t t = static_cast<time_t>(epoch_s);
  struct tm tm = {};
  char buf[64];
  if (::localtime_r(&t, &tm) == nullptr ||
      ::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0) {
    return Num(epoch_s);
  }
  return buf;
}

// The scoreboard, believed only when root or the caller could have written
// it (CheckTrusted). kNotFound when missing.
Result<sb::Scoreboard> OpenTrustedBoard(const std::string& path) {
  auto board = sb::Scoreboard::Open(path);
  if (!board) {
    if (board.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound, "no scoreboard at " + path);
    }
    return board.error();
  }
  board->GuardTruncation(sb::TruncationPolicy::kExit);  // a shrunk file: an error, not SIGBUS
  const sb::FileInfo fi = board->file_info();
  if (auto t = CheckTrusted("scoreboard " + path, fi.uid, fi.mode, ::getuid()); !t) {
    return t.error();
  }
  return board;
}

// The master, verified against the PidFile and the scoreboard (proc.h).
struct Master {
  int32_t pid = 0;
  ProcessHandle handle;
  sb::Scoreboard board;
  sb::HeaderView header;
};

Result<Master> VerifyMaster(const Paths& paths) {
  auto pid = ReadPidFile(paths.pidfile);
  if (!pid) return pid.error();
  if (!*pid) {
    return Error(ErrorCode::kNotFound,
                 "poolftpd is not running (no PidFile at " + paths.pidfile + ")");
  }
  auto board = OpenTrustedBoard(paths.scoreboard);
  if (!board) return board.error();
  const sb::HeaderView header = board->ReadHeader();
  // The pidfd first: everything read about the PID from here on describes
  // the pinned process or makes the handle fail.
  auto handle = ProcessHandle::Open(**pid);
  if (!handle) {
    if (handle.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound, "poolftpd is not running: PidFile " + paths.pidfile +
                                             " names PID " + Num(**pid) + ", which is not running");
    }
    return handle.error();
  }
  if (auto c = CheckMaster(handle->info(), **pid, header); !c) {
    return Error(c.error().code(), "refusing to signal PID " + Num(**pid) + " from PidFile " +
                                       paths.pidfile + ": " + c.error().message());
  }
  if (!handle->may_signal()) {
    return Error(ErrorCode::kPermission,
                 "not permitted to signal master " + Num(**pid) +
                     " (run ftpdctl as root or as the user the server runs as)");
  }
  return Master{**pid, std::move(*handle), std::move(*board), header};
}

// What a non-status command did, printed as text or JSON at the end.
class Report {
 public:
  Report(const Options& options, std::string signal)
      : options_(options), signal_(std::move(signal)) {}
  void Signalled(int32_t pid, const char* role, std::string line) {
    signalled_.emplace_back(pid, role);
    lines_.push_back(std::move(line));
  }
  void Line(std::string line) { lines_.push_back(std::move(line)); }
  void Fail(std::string message) { errors_.push_back(std::move(message)); }
  bool failed() const { return !errors_.empty(); }
  bool signalled_any() const { return !signalled_.empty(); }

  int Finish() {
    for (const std::string& e : errors_) PrintErr(e);
    std::string out;
    if (options_.json) {
      out = "{\"ok\":" + std::string(failed() ? "false" : "true") +
            ",\"command\":" + JsonString(CommandName(options_.command)) +
            ",\"signal\":" + (signal_.empty() ? std::string("null") : JsonString(signal_)) +
            ",\"signalled\":[";
      for (size_t i = 0; i < signalled_.size(); ++i) {
        if (i) out += ',';
        out += "{\"pid\":" + Num(signalled_[i].first) +
               ",\"role\":" + JsonString(signalled_[i].second) + "}";
      }
      out += "],\"messages\":[";
      for (size_t i = 0; i < lines_.size(); ++i) {
        if (i) out += ',';
        out += JsonString(lines_[i]);
      }
      out += "],\"errors\":[";
      for (size_t i = 0; i < errors_.size(); ++i) {
        if (i) out += ',';
        out += JsonString(errors_[i]);
      }
      out += "]}\n";
    } else {
      for (const std::string& l : lines_) out += l + "\n";
    }
    if (!PrintOut(out)) return kExitFailure;
    return failed() ? kExitFailure : kExitOk;
  }

 private:
  const Options& options_;
  std::string signal_;
  std::vector<std::pair<int32_t, const char*>> signalled_;
  std::vector<std::string> lines_;
  std::vector<std::string> errors_;
};

int Timeout(const Options& o) { return o.timeout_s.value_or(DefaultTimeout(o.command)); }

// A worker named by a slot, verified and pinned; re-reads the slot after the
// pidfd is open so a worker that moved on is not signalled for a slot it no
// longer holds. nullopt (no error) when the slot changed meanwhile.
Result<std::optional<ProcessHandle>> PinWorker(const Master& m, const sb::SlotView& seen,
                                               bool (*still)(const sb::SlotView& before,
                                                             const sb::SlotView& now,
                                                             const KickFilter& filter),
                                               const KickFilter& filter) {
  auto h = ProcessHandle::Open(seen.rec.pid);
  if (!h) {
    if (h.error().code() == ErrorCode::kNotFound) return std::optional<ProcessHandle>();
    return h.error();
  }
  if (auto c = CheckWorker(h->info(), m.handle.info()); !c) {
    return Error(c.error().code(),
                 "refusing to signal PID " + Num(seen.rec.pid) + " (scoreboard slot " +
                     Num(static_cast<int64_t>(seen.index)) + "): " + c.error().message());
  }
  if (!h->may_signal()) {
    return Error(ErrorCode::kPermission,
                 "not permitted to signal worker " + Num(seen.rec.pid) +
                     " (run ftpdctl as root or as the user the server runs as)");
  }
  const sb::SlotView now = m.board.Read(seen.index);
  if (!still(seen, now, filter)) return std::optional<ProcessHandle>();
  return std::optional<ProcessHandle>(std::move(*h));
}

bool SameSession(const sb::SlotView& before, const sb::SlotView& now, const KickFilter& filter) {
  return now.rec.pid == before.rec.pid && now.rec.session_start_ns == before.rec.session_start_ns &&
         KickMatches(now, filter);
}

bool SameWorker(const sb::SlotView& before, const sb::SlotView& now, const KickFilter&) {
  return now.rec.pid == before.rec.pid && !now.stale && now.rec.state != sb::SlotState::kEmpty;
}

std::string SessionLabel(const sb::SlotView& v) {
  std::string s = "user " + (v.rec.user[0] ? EscapeText(v.rec.user) : std::string("(none)"));
  if (v.rec.client_addr[0]) s += " from " + EscapeText(v.rec.client_addr);
  return s;
}

// --------------------------------------------------------------------------

int DoStatus(const Options& o, const Paths& paths) {
  const Status st = GetStatus(paths);
  if (o.json) {
    if (st.code == kStatusUnknown) PrintErr(st.message);
    if (!PrintOut(FormatStatusJson(st))) return kStatusUnknown;
    return st.code;
  }
  if (st.code == kStatusUnknown) {
    PrintErr(st.message);
    return st.code;
  }
  if (!PrintOut(FormatStatusText(st))) return kStatusUnknown;
  return st.code;
}

int DoSignalMaster(const Options& o, const Paths& paths, int signo) {
  Report report(o, SignalName(signo));
  auto m = VerifyMaster(paths);
  if (!m) {
    report.Fail(m.error().message());
    return report.Finish();
  }
  const uint32_t generation = m->header.generation;
  if (auto s = m->handle.Signal(signo); !s) {
    report.Fail(s.error().message());
    return report.Finish();
  }
  const std::string pid = Num(m->pid);
  const int timeout = Timeout(o);
  switch (o.command) {
    case Command::kReload: {
      report.Signalled(m->pid, "master", "sent HUP to master " + pid + ": reloading");
      if (timeout == 0) break;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
      for (;;) {
        const uint32_t now = m->board.ReadHeader().generation;
        if (now != generation) {
          report.Line("reloaded: master " + pid + " runs generation " + Num(now) + " (was " +
                      Num(generation) + ")");
          break;
        }
        if (m->handle.WaitExit(0)) {
          report.Fail("master " + pid + " exited during the reload");
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          report.Fail("master " + pid + " did not start a new generation within " + Num(timeout) +
                      " s: the configuration may be broken (see the SystemLog); it keeps "
                      "serving with the old one");
          break;
        }
        std::this_thread::sleep_for(kPollInterval);
      }
      break;
    }
    case Command::kStop:
    case Command::kGracefulStop: {
      const bool graceful = o.command == Command::kGracefulStop;
      report.Signalled(m->pid, "master",
                       std::string("sent ") + SignalName(signo) + " to master " + pid +
                           (graceful ? ": no new connections; it exits when the last session ends"
                                     : ": stopping"));
      if (timeout == 0) break;
      if (m->handle.WaitExit(timeout * 1000)) {
        report.Line("poolftpd stopped (master " + pid + " exited)");
      } else {
        report.Fail("master " + pid + " is still running after " + Num(timeout) + " s");
      }
      break;
    }
    case Command::kReopenLogs:
      report.Signalled(m->pid, "master", "sent USR1 to master " + pid + ": reopening the logs");
      break;
    default:
      report.Signalled(m->pid, "master", "sent " + SignalName(signo) + " to master " + pid);
  }
  return report.Finish();
}

int DoKick(const Options& o, const Paths& paths) {
  Report report(o, "USR2");
  auto m = VerifyMaster(paths);
  if (!m) {
    report.Fail(m.error().message());
    return report.Finish();
  }
  std::set<int32_t> done;
  for (const sb::SlotView& v : m->board.ReadAll()) {
    if (!KickMatches(v, o.kick) || !done.insert(v.rec.pid).second) continue;
    auto h = PinWorker(*m, v, &SameSession, o.kick);
    if (!h) {
      report.Fail(h.error().message());
      continue;
    }
    if (!*h) continue;  // the session ended meanwhile
    if (auto s = (*h)->Signal(SIGUSR2); !s) {
      if (s.error().code() != ErrorCode::kNotFound) report.Fail(s.error().message());
      continue;
    }
    report.Signalled(
        v.rec.pid, "worker",
        "kicked the session of worker " + Num(v.rec.pid) + " (" + SessionLabel(v) + ")");
  }
  // As pkill(1): nothing signalled is a failure (exit 1), said on stderr,
  // so a script can tell "kicked" from "nobody to kick".
  if (!report.signalled_any() && !report.failed()) report.Fail("no session matches");
  return report.Finish();
}

// The master sets its level and forwards it to every worker of its own
// child table; new workers inherit it. Nothing to wait for: the master logs
// "debug level changed to N by uid U" once the workers have it queued.
int DoDebug(const Options& o, const Paths& paths) {
  const int signo = poolftpd::util::DebugLevelSignal();
  Report report(o, SignalName(signo));
  auto m = VerifyMaster(paths);
  if (!m) {
    report.Fail(m.error().message());
    return report.Finish();
  }
  if (auto s = m->handle.Queue(signo, o.debug_level); !s) {
    report.Fail(s.error().message());
    return report.Finish();
  }
  report.Signalled(m->pid, "master",
                   "sent debug level " + Num(o.debug_level) + " to master " + Num(m->pid) +
                       " (it passes it on to its workers; until the next reload or restart)");
  return report.Finish();
}

int DoKill(const Options& o, const Paths& paths) {
  const std::string sig = SignalName(o.signal);
  Report report(o, sig);
  auto m = VerifyMaster(paths);
  if (!m) {
    report.Fail(m.error().message());
    return report.Finish();
  }
  if (o.who == Who::kWorkers || o.who == Who::kAll) {
    std::set<int32_t> done;
    for (const sb::SlotView& v : m->board.ReadAll()) {
      if (v.updating || v.stale || v.rec.pid <= 0 || v.rec.state == sb::SlotState::kEmpty ||
          !done.insert(v.rec.pid).second) {
        continue;
      }
      auto h = PinWorker(*m, v, &SameWorker, o.kick);
      if (!h) {
        report.Fail(h.error().message());
        continue;
      }
      if (!*h) continue;
      if (auto s = (*h)->Signal(o.signal); !s) {
        if (s.error().code() != ErrorCode::kNotFound) report.Fail(s.error().message());
        continue;
      }
      report.Signalled(v.rec.pid, "worker", "sent " + sig + " to worker " + Num(v.rec.pid));
    }
    if (done.empty()) report.Line("no workers");
  }
  if (o.who == Who::kMain || o.who == Who::kAll) {
    if (auto s = m->handle.Signal(o.signal); !s) {
      report.Fail(s.error().message());
    } else {
      report.Signalled(m->pid, "master", "sent " + sig + " to master " + Num(m->pid));
    }
  }
  return report.Finish();
}

}  // namespace

// --------------------------------------------------------------------------

Result<Paths> ResolvePaths(const Options& o, std::string* config_error) {
  tools::ConfigPaths cfg;
  if (!o.pidfile || !o.scoreboard) {
    std::optional<tools::ConfigPaths> partial;
    if (config_error != nullptr) partial.emplace();
    auto found = tools::ResolveConfigPaths(o.config, o.defines, partial ? &*partial : nullptr);
    if (found) {
      cfg = std::move(*found);
    } else if (partial && found.error().message().rfind("cannot read config ", 0) != 0) {
      *config_error = found.error().message();
      cfg = std::move(*partial);
    } else {
      return found.error();
    }
  }
  Paths p;
  p.pidfile = o.pidfile ? *o.pidfile : cfg.pid_file.value_or(POOLFTPD_PID_FILE);
  p.scoreboard =
      o.scoreboard ? *o.scoreboard : cfg.scoreboard_file.value_or(POOLFTPD_SCOREBOARD_FILE);
  return p;
}

void FillFromScoreboard(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                        int64_t now_ns, Status* s) {
  s->master_pid = header.master_pid;
  s->uptime_s = header.start_time_ns > 0 && now_ns > header.start_time_ns
                    ? (now_ns - header.start_time_ns) / kNsPerSec
                    : 0;
  s->generation = header.generation;
  s->config_file = header.config_file;
  std::map<uint32_t, WorkerCount> by_gen;
  s->sessions = 0;
  for (const sb::SlotView& v : slots) {
    if (v.updating || v.stale) continue;
    const sb::SlotState state = v.rec.state;
    if (state == sb::SlotState::kEmpty) continue;
    WorkerCount& w = by_gen[v.rec.generation];
    w.generation = v.rec.generation;
    if (state == sb::SlotState::kReady) {
      ++w.idle;
    } else if (state == sb::SlotState::kStarting) {
      ++w.starting;
    } else {
      ++w.busy;
    }
    if (tools::IsListedSession(v)) ++s->sessions;
  }
  s->workers.clear();
  for (const auto& [gen, w] : by_gen) s->workers.push_back(w);
  s->shutdown = header.shutdown_time > 0;
  s->shutdown_time = header.shutdown_time;
  s->deny_time = header.deny_time;
  s->disconnect_time = header.disconnect_time;
  s->shutdown_message = header.shutdown_msg;
}

std::string FormatStatusText(const Status& s) {
  if (s.code != kStatusRunning) return s.message + "\n";
  std::string out = s.message + "\n";
  auto row = [&](const char* name, const std::string& value) {
    char label[24];
    std::snprintf(label, sizeof label, "  %-14s", name);
    out += label + value + "\n";
  };
  std::string uptime = tools::FormatUptime(s.uptime_s);
  uptime.erase(0, uptime.find_first_not_of(' '));
  row("uptime:", uptime);
  row("generation:", Num(s.generation));
  row("config file:",
      s.config_file.empty() ? std::string("(not published)") : EscapeText(s.config_file));
  row("PidFile:", EscapeText(s.pidfile));
  row("scoreboard:", EscapeText(s.scoreboard));
  if (s.workers.empty()) {
    row("workers:", "none");
  } else {
    bool first = true;
    for (const WorkerCount& w : s.workers) {
      std::string line = "generation " + Num(w.generation) + ": " + Num(w.idle) + " idle, " +
                         Num(w.busy) + " busy";
      if (w.starting) line += ", " + Num(w.starting) + " starting";
      if (w.generation != s.generation) line += " (old generation)";
      row(first ? "workers:" : "", line);
      first = false;
    }
  }
  row("sessions:", Num(s.sessions));
  if (!s.shutdown) {
    row("shutdown:", "none");
  } else {
    row("shutdown:",
        "at " + LocalTime(s.shutdown_time) + ": \"" + EscapeText(s.shutdown_message) + "\"");
    row("", "new logins refused from " + LocalTime(s.deny_time));
    row("", "sessions cut from " + LocalTime(s.disconnect_time));
  }
  return out;
}

std::string FormatStatusJson(const Status& s) {
  const bool running = s.code == kStatusRunning;
  const char* state = s.code == kStatusRunning      ? "running"
                      : s.code == kStatusDead       ? "dead"
                      : s.code == kStatusNotRunning ? "stopped"
                                                    : "unknown";
  auto or_null = [&](const std::string& v) { return running ? v : std::string("null"); };
  std::string out = "{\"running\":" + std::string(running ? "true" : "false");
  out += ",\"state\":" + JsonString(state);
  out += ",\"message\":" + JsonString(s.message);
  out += ",\"master_pid\":" + or_null(Num(s.master_pid));
  out += ",\"uptime_s\":" + or_null(Num(s.uptime_s));
  out += ",\"generation\":" + or_null(Num(s.generation));
  out += ",\"config_file\":" + or_null(JsonString(s.config_file));
  out += ",\"workers\":[";
  for (size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerCount& w = s.workers[i];
    if (i) out += ',';
    out += "{\"generation\":" + Num(w.generation) + ",\"idle\":" + Num(w.idle) +
           ",\"busy\":" + Num(w.busy) + ",\"starting\":" + Num(w.starting) + "}";
  }
  out += "],\"sessions\":" + Num(s.sessions);
  out += ",\"pidfile\":" + JsonString(s.pidfile);
  out += ",\"scoreboard\":" + JsonString(s.scoreboard);
  out += ",\"shutdown\":" + (s.shutdown ? tools::ShutdownJson(s.shutdown_time, s.deny_time,
                                                              s.disconnect_time, s.shutdown_message)
                                        : std::string("null"));
  out += "}\n";
  return out;
}

Status GetStatus(const Paths& paths) {
  Status s;
  s.pidfile = paths.pidfile;
  s.scoreboard = paths.scoreboard;
  auto unknown = [&](const std::string& why) {
    s.code = kStatusUnknown;
    s.message = why;
    return s;
  };
  auto pid = ReadPidFile(paths.pidfile);
  if (!pid) return unknown(pid.error().message());
  auto board = OpenTrustedBoard(paths.scoreboard);
  if (!board && board.error().code() != ErrorCode::kNotFound) {
    return unknown(board.error().message());
  }
  if (!*pid) {
    if (board) {
      const sb::HeaderView h = board->ReadHeader();
      if (h.master_pid != 0 && board->MasterAlive()) {
        return unknown("the scoreboard " + paths.scoreboard + " names the running master " +
                       Num(h.master_pid) + ", but there is no PidFile at " + paths.pidfile);
      }
      if (sb::IsInetd(h)) {
        FillFromScoreboard(h, board->ReadAll(), tools::NowNs(), &s);
        s.code = kStatusNotRunning;
        s.message = "poolftpd is not running as a daemon (inetd mode: " + Num(s.sessions) +
                    " session" + (s.sessions == 1 ? "" : "s") + ")";
        return s;
      }
    }
    s.code = kStatusNotRunning;
    s.message = "poolftpd is not running (no PidFile at " + paths.pidfile + ")";
    return s;
  }
  const std::string pid_text = Num(**pid);
  auto handle = ProcessHandle::Open(**pid);
  if (!handle) {
    if (handle.error().code() != ErrorCode::kNotFound) return unknown(handle.error().message());
    s.code = kStatusDead;
    s.message = "poolftpd is not running, but its PidFile " + paths.pidfile + " is left (PID " +
                pid_text + " is not running)";
    return s;
  }
  const ProcessInfo& info = handle->info();
  if (!board) {
    const bool looks_ours = info.exe.empty() ? info.comm == "poolftpd" : IsPoolftpdExe(info.exe);
    if (looks_ours && !info.zombie()) {
      return unknown("PID " + pid_text + " from PidFile " + paths.pidfile +
                     " runs poolftpd, but there is no scoreboard at " + paths.scoreboard);
    }
    s.code = kStatusDead;
    s.message = "poolftpd is not running, but its PidFile " + paths.pidfile + " is left (PID " +
                pid_text + " is another program now)";
    return s;
  }
  const sb::HeaderView header = board->ReadHeader();
  if (auto c = CheckMaster(info, **pid, header); !c) {
    if (c.error().code() != ErrorCode::kStale) {
      return unknown("cannot verify PID " + pid_text + " from PidFile " + paths.pidfile + ": " +
                     c.error().message());
    }
    s.code = kStatusDead;
    s.message = "poolftpd is not running, but its PidFile " + paths.pidfile + " is left (" +
                c.error().message() + ")";
    return s;
  }
  FillFromScoreboard(header, board->ReadAll(), tools::NowNs(), &s);
  s.code = kStatusRunning;
  s.message = "poolftpd is running: master PID " + pid_text;
  return s;
}

bool KickMatches(const sb::SlotView& v, const KickFilter& f) {
  if (f.empty() || v.updating || v.stale || !sb::IsSessionState(v.rec.state)) return false;
  if (f.pid && v.rec.pid != *f.pid) return false;
  if (f.user && *f.user != v.rec.user) return false;
  if (f.host) {
    // client_addr is "name[ip]" or "ip".
    const std::string_view addr(v.rec.client_addr);
    std::string_view ip = addr, name;
    const size_t open = addr.find('[');
    if (open != std::string_view::npos && addr.back() == ']') {
      name = addr.substr(0, open);
      ip = addr.substr(open + 1, addr.size() - open - 2);
    }
    const bool name_match = !name.empty() && name.size() == f.host->size() &&
                            ::strncasecmp(name.data(), f.host->data(), name.size()) == 0;
    if (ip != *f.host && !name_match) return false;
  }
  return true;
}

int Run(const Options& o) {
  // A config the parser refuses is reported (file:line: reason) but stops
  // no command: the running server keeps its old config, and an operator
  // who broke the file must still be able to see the status and reload
  // (which then fails, as the server refuses the file too). The paths come
  // from the directives before the error.
  std::string config_error;
  auto paths = ResolvePaths(o, &config_error);
  if (!paths) {
    PrintErr(paths.error().message());
    return o.command == Command::kStatus ? kStatusUnknown : kExitFailure;
  }
  if (!config_error.empty()) {
    PrintErr(config_error);
    if (o.command == Command::kReload) {
      const int rc = DoSignalMaster(o, *paths, SIGHUP);
      return rc == kExitOk ? kExitFailure : rc;
    }
  }
  switch (o.command) {
    case Command::kStatus:
      return DoStatus(o, *paths);
    case Command::kReload:
      return DoSignalMaster(o, *paths, SIGHUP);
    case Command::kStop:
      return DoSignalMaster(o, *paths, SIGTERM);
    case Command::kGracefulStop:
      return DoSignalMaster(o, *paths, SIGQUIT);
    case Command::kReopenLogs:
      return DoSignalMaster(o, *paths, SIGUSR1);
    case Command::kKick:
      return DoKick(o, *paths);
    case Command::kKill:
      return DoKill(o, *paths);
    case Command::kDebug:
      return DoDebug(o, *paths);
  }
  return kExitFailure;
}

}  // namespace poolftpd::ftpdctl
