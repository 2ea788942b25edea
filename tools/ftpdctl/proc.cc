// ftpdctl's process inspection, pidfd handles and trust checks; see proc.h.
#include "proc.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

namespace poolftpd::ftpdctl {

namespace {

std::string PidText(int32_t pid) { return std::to_string(pid); }

// Reads a small /proc file whole (they are generated on read).
Result<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT || err == ESRCH) return Error(ErrorCode::kNotFound, path, err);
    return Error(ErrorCode::kSystem, "cannot read " + path, err);
  }
  std::string out;
  char buf[4096];
  while (out.size() < 65536) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      if (err == ESRCH) return Error(ErrorCode::kNotFound, path, err);
      return Error(ErrorCode::kSystem, "cannot read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

template <class Int>
bool ParseNumber(std::string_view s, Int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

long SysPidfdOpen(int32_t pid) { return ::syscall(SYS_pidfd_open, pid, 0); }
long SysPidfdSendSignal(int pidfd, int signo) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0);
}
// As sigqueue(3) fills it in: SI_QUEUE, our PID and real uid, the value.
long SysPidfdQueueSignal(int pidfd, int signo, int value) {
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_int = value;
  return ::syscall(SYS_pidfd_send_signal, pidfd, signo, &info, 0);
}

constexpr std::string_view kDeleted = " (deleted)";

std::string_view StripDeleted(std::string_view exe) {
  if (exe.size() > kDeleted.size() && exe.substr(exe.size() - kDeleted.size()) == kDeleted) {
    exe.remove_suffix(kDeleted.size());
  }
  return exe;
}

bool UnreadableForUs(int err) { return err == EACCES || err == EPERM; }

}  // namespace

Result<ProcessInfo> ParseProcStat(int32_t pid, std::string_view text) {
  ProcessInfo info;
  info.pid = pid;
  // "PID (comm) S PPID ...": comm may hold spaces and ')', so it ends at the
  // last ')'.
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return Error(ErrorCode::kInvalid, "/proc/" + PidText(pid) + "/stat has no command name");
  }
  info.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  // Fields from 3 (state) on; 22 (starttime) is the 20th.
  int field = 3;
  bool have_ppid = false, have_start = false;
  while (!rest.empty() && field <= 22) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n')) rest.remove_prefix(1);
    size_t end = rest.find_first_of(" \n");
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view tok = rest.substr(0, end);
    if (tok.empty()) break;
    if (field == 3) info.state = tok.size() == 1 ? tok[0] : '?';
    if (field == 4) have_ppid = ParseNumber(tok, &info.ppid);
    if (field == 22) have_start = ParseNumber(tok, &info.start_ticks);
    rest.remove_prefix(end);
    ++field;
  }
  if (info.state == '?' || !have_ppid || !have_start) {
    return Error(ErrorCode::kInvalid, "/proc/" + PidText(pid) + "/stat is malformed");
  }
  return info;
}

Result<ProcessInfo> ReadProcessInfo(int32_t pid) {
  if (pid <= 0) return Error(ErrorCode::kNotFound, "no process " + PidText(pid));
  const std::string dir = "/proc/" + PidText(pid);
  auto stat = ReadSmallFile(dir + "/stat");
  if (!stat) {
    if (stat.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound, "process " + PidText(pid) + " is not running");
    }
    return stat.error();
  }
  auto info = ParseProcStat(pid, *stat);
  if (!info) return info.error();
  char buf[PATH_MAX];
  const ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) {
    info->exe.assign(buf, static_cast<size_t>(n));
  } else {
    info->exe_errno = n == 0 ? ENOENT : errno;
  }
  return info;
}

bool IsPoolftpdExe(std::string_view exe) {
  exe = StripDeleted(exe);
  const size_t slash = exe.rfind('/');
  if (slash == std::string_view::npos) return false;  // /proc links are absolute
  return exe.substr(slash + 1) == "poolftpd";
}

// --------------------------------------------------------------------------

Result<ProcessHandle> ProcessHandle::Open(int32_t pid) {
  if (pid <= 0) return Error(ErrorCode::kNotFound, "no process " + PidText(pid));
  ProcessHandle h;
  const long fd = SysPidfdOpen(pid);
  if (fd < 0) {
    const int err = errno;
    if (err == ESRCH || err == EINVAL) {
      return Error(ErrorCode::kNotFound, "process " + PidText(pid) + " is not running");
    }
    if (err == ENOSYS) {
      return Error(ErrorCode::kSystem,
                   "this kernel has no pidfd_open(2) (Linux 5.3 or later); refusing to signal "
                   "by PID alone",
                   err);
    }
    return Error::FromErrno(err, "pidfd_open", PidText(pid));
  }
  h.pidfd_.reset(static_cast<int>(fd));
  auto info = ReadProcessInfo(pid);
  if (!info) return info.error();
  h.info_ = std::move(*info);
  // The probe: if the pinned process still lives, the PID was never reused,
  // so what /proc just said was about it.
  if (SysPidfdSendSignal(h.pidfd_.get(), 0) == 0) {
    h.may_signal_ = true;
  } else if (errno == EPERM) {
    h.may_signal_ = false;  // alive (the kernel checks existence first), not ours to signal
  } else if (errno == ESRCH) {
    return Error(ErrorCode::kNotFound, "process " + PidText(pid) + " exited");
  } else {
    return Error::FromErrno(errno, "pidfd_send_signal", PidText(pid));
  }
  return h;
}

Result<void> ProcessHandle::Signal(int signo) const {
  if (SysPidfdSendSignal(pidfd_.get(), signo) == 0) return Ok();
  return SignalError(errno);
}

Result<void> ProcessHandle::Queue(int signo, int value) const {
  if (SysPidfdQueueSignal(pidfd_.get(), signo, value) == 0) return Ok();
  return SignalError(errno);
}

Result<void> ProcessHandle::SignalError(int err) const {
  if (err == ESRCH) return Error(ErrorCode::kNotFound, "process " + PidText(pid()) + " exited");
  if (err == EPERM) {
    return Error(ErrorCode::kPermission,
                 "not permitted to signal process " + PidText(pid()) +
                     " (run ftpdctl as root or as the user the server runs as)",
                 err);
  }
  return Error::FromErrno(err, "pidfd_send_signal", PidText(pid()));
}

bool ProcessHandle::WaitExit(int timeout_ms) const {
  pollfd p = {pidfd_.get(), POLLIN, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;  // the deadline restarts: bounded by signals
    return n > 0;
  }
}

// --------------------------------------------------------------------------

Result<void> CheckTrusted(const std::string& what, uint32_t owner_uid, uint32_t mode,
                          uint32_t caller_uid) {
  if (mode & (S_IWGRP | S_IWOTH)) {
    return Error(
        ErrorCode::kPermission, "refusing " + what + ": it is writable by group or others (mode " +
                                    [&] {
                                      char b[8];
                                      std::snprintf(b, sizeof b, "%04o", mode & 07777);
                                      return std::string(b);
                                    }() +
                                    "), so its contents cannot be trusted");
  }
  if (owner_uid != 0 && owner_uid != caller_uid) {
    return Error(ErrorCode::kPermission,
                 "refusing " + what + ": it is owned by uid " + std::to_string(owner_uid) +
                     ", neither root nor you (uid " + std::to_string(caller_uid) +
                     "); run ftpdctl as the user the server runs as");
  }
  return Ok();
}

Result<std::optional<int32_t>> ReadPidFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return std::optional<int32_t>();
    if (err == ELOOP) {
      return Error(ErrorCode::kPermission, "refusing PidFile " + path + ": it is a symbolic link",
                   err);
    }
    return Error(ErrorCode::kPermission, "cannot read PidFile " + path, err);
  }
  struct stat st = {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno(errno, "fstat", path);
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalid, "PidFile " + path + " is not a regular file");
  }
  if (auto t = CheckTrusted("PidFile " + path, st.st_uid, st.st_mode, ::getuid()); !t) {
    return t.error();
  }
  char buf[64];
  size_t len = 0;
  while (len < sizeof buf) {
    const ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kPermission, "cannot read PidFile " + path, errno);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  std::string_view text(buf, len);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  int32_t pid = 0;
  if (len == sizeof buf || !ParseNumber(text, &pid) || pid <= 0) {
    return Error(ErrorCode::kInvalid, "PidFile " + path + " does not hold a PID");
  }
  return std::optional<int32_t>(pid);
}

// --------------------------------------------------------------------------

Result<void> CheckMaster(const ProcessInfo& proc, int32_t pidfile_pid,
                         const sb::HeaderView& header) {
  const std::string pid = PidText(proc.pid);
  if (header.master_pid == 0) {
    if (sb::IsInetd(header)) {
      return Error(ErrorCode::kStale,
                   "the scoreboard is in inetd mode: there is no master process (PidFile names " +
                       PidText(pidfile_pid) + ")");
    }
    return Error(ErrorCode::kStale,
                 "the scoreboard records no running master (it exited); "
                 "the PidFile naming PID " +
                     PidText(pidfile_pid) + " is left over");
  }
  if (header.master_pid != pidfile_pid || proc.pid != pidfile_pid) {
    return Error(ErrorCode::kInvalid, "the PidFile names PID " + PidText(pidfile_pid) +
                                          " but the scoreboard's master is PID " +
                                          PidText(header.master_pid));
  }
  if (proc.zombie()) return Error(ErrorCode::kStale, "master process " + pid + " has exited");
  if (header.master_start_ticks == 0) {
    return Error(ErrorCode::kInvalid,
                 "the scoreboard records no start time for master " + pid + "; cannot verify it");
  }
  if (proc.start_ticks != header.master_start_ticks) {
    return Error(ErrorCode::kStale, "PID " + pid +
                                        " is not the master the scoreboard records (it started "
                                        "at another time: the PID was reused)");
  }
  if (!proc.exe.empty()) {
    if (!IsPoolftpdExe(proc.exe)) {
      return Error(ErrorCode::kStale, "PID " + pid + " runs " + proc.exe + ", not poolftpd");
    }
    return Ok();
  }
  if (UnreadableForUs(proc.exe_errno)) {
    if (proc.comm == "poolftpd") return Ok();
    return Error(ErrorCode::kStale, "PID " + pid + " is \"" + proc.comm + "\", not poolftpd");
  }
  return Error(ErrorCode::kStale, "cannot read /proc/" + pid + "/exe to verify master " + pid);
}

Result<void> CheckWorker(const ProcessInfo& proc, const ProcessInfo& master) {
  const std::string pid = PidText(proc.pid);
  if (proc.zombie()) return Error(ErrorCode::kStale, "worker " + pid + " has exited");
  if (proc.ppid != master.pid) {
    return Error(ErrorCode::kInvalid, "PID " + pid + " is not a worker of master " +
                                          PidText(master.pid) + " (its parent is " +
                                          PidText(proc.ppid) + ")");
  }
  if (proc.start_ticks < master.start_ticks) {
    return Error(ErrorCode::kInvalid,
                 "PID " + pid + " started before master " + PidText(master.pid));
  }
  if (!proc.exe.empty() && !master.exe.empty()) {
    if (StripDeleted(proc.exe) != StripDeleted(master.exe)) {
      return Error(ErrorCode::kInvalid,
                   "PID " + pid + " runs " + proc.exe + ", not the master's " + master.exe);
    }
    return Ok();
  }
  const bool proc_hidden = proc.exe.empty() && UnreadableForUs(proc.exe_errno);
  const bool master_hidden = master.exe.empty() && UnreadableForUs(master.exe_errno);
  if ((proc_hidden || !proc.exe.empty()) && (master_hidden || !master.exe.empty())) {
    if (proc.comm == master.comm) return Ok();
    return Error(ErrorCode::kInvalid, "PID " + pid + " is \"" + proc.comm +
                                          "\", not a worker of master " + PidText(master.pid));
  }
  return Error(ErrorCode::kInvalid, "cannot read /proc/" + pid + "/exe to verify worker " + pid);
}

}  // namespace poolftpd::ftpdctl
