#include "poolftpd/log/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::log {
namespace {

struct State {
  int system_fd = -1;    // -1: stderr or syslog
  int transfer_fd = -1;  // -1: no transfer log
  bool foreground = true;
  bool use_syslog = false;
  int pid = 0;  // cached: a log line per event must not cost a syscall each
  std::string host;
  std::string client_name;
  std::string client_ip;
  // Lines this process could not write (ENOSPC on a full log disk, ...),
  // reported by the first line that can be written again.
  uint64_t lost_system = 0, lost_transfer = 0;
  int lost_errno = 0;
};

State& S() {
  static State s;
  return s;
}

const std::string& Host() {
  if (S().host.empty()) {
    char buf[256] = "";
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
      std::snprintf(buf, sizeof buf, "localhost");
    S().host = buf;
  }
  return S().host;
}

Result<int> OpenLog(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return Error::FromErrno(errno, "open", path);
  return fd;
}

void Replace(int* slot, int fd) {
  if (*slot >= 0) ::close(*slot);
  *slot = fd;
}

}  // namespace

Result<void> Logs::Open(const std::string& system_log, const std::string& transfer_log,
                        bool foreground) {
  S().foreground = foreground;
  S().pid = ::getpid();
  Host();
  ::tzset();
  S().use_syslog = system_log.empty() && !foreground;
  if (S().use_syslog) ::openlog("poolftpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  return Reopen(system_log, transfer_log);
}

Result<void> Logs::Reopen(const std::string& system_log, const std::string& transfer_log) {
  int sys_fd = -1, xfer_fd = -1;
  if (!system_log.empty()) {
    auto r = OpenLog(system_log);
    if (!r) return r.error();
    sys_fd = *r;
  }
  if (!transfer_log.empty()) {
    auto r = OpenLog(transfer_log);
    if (!r) {
      if (sys_fd >= 0) ::close(sys_fd);
      return r.error();
    }
    xfer_fd = *r;
  }
  Replace(&S().system_fd, sys_fd);
  Replace(&S().transfer_fd, xfer_fd);
  return Ok();
}

void Logs::SetDebugLevel(int level) {
  internal::g_debug_level.store(level, std::memory_order_relaxed);
}
void Logs::AfterFork() { S().pid = ::getpid(); }
int Logs::debug_level() { return internal::g_debug_level.load(std::memory_order_relaxed); }
void Logs::SetClient(std::string_view name, std::string_view ip) {
  S().client_name = util::EscapeControl(name);
  S().client_ip = util::EscapeControl(ip);
}
void Logs::ClearClient() {
  S().client_name.clear();
  S().client_ip.clear();
}
int Logs::system_fd() { return S().system_fd; }
int Logs::transfer_fd() { return S().transfer_fd; }

std::string FormatSystemLine(int64_t now_ns, std::string_view host, int pid,
                             std::string_view client_name, std::string_view client_ip,
                             std::string_view message) {
  const time_t secs = static_cast<time_t>(now_ns / 1000000000);
  const int millis = static_cast<int>((now_ns / 1000000) % 1000);
  struct tm tm;
  ::localtime_r(&secs, &tm);
  // "YYYY-MM-DD HH:MM:SS,mmm" by hand: snprintf's frame is ~2 KiB of stack,
  // and each stack page a worker touches is private to that worker.
  char stamp[32];
  auto put = [](char* p, unsigned v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    return p + digits;
  };
  char* p = stamp;
  const int year = tm.tm_year + 1900;
  p = put(p, static_cast<unsigned>(year < 0 ? 0 : year > 9999 ? 9999 : year), 4);
  *p++ = '-';
  p = put(p, static_cast<unsigned>(tm.tm_mon + 1), 2);
  *p++ = '-';
  p = put(p, static_cast<unsigned>(tm.tm_mday), 2);
  *p++ = ' ';
  p = put(p, static_cast<unsigned>(tm.tm_hour), 2);
  *p++ = ':';
  p = put(p, static_cast<unsigned>(tm.tm_min), 2);
  *p++ = ':';
  p = put(p, static_cast<unsigned>(tm.tm_sec), 2);
  *p++ = ',';
  p = put(p, static_cast<unsigned>(millis), 3);
  // ProFTPD writes "TIME HOST proftpd[PID] SERVER (name[ip]): msg". fail2ban's
  // stock proftpd filter skips one optional word after the time and then wants
  // "HOST (name[ip])", with its own daemon name for anything else; so our
  // ident "poolftpd[PID]" comes first and the host stands right before the
  // client part: "TIME poolftpd[PID] HOST (name[ip]): msg".
  std::string line;
  line.reserve(96 + message.size());
  line.append(stamp, static_cast<size_t>(p - stamp));
  line += " poolftpd[";
  line += std::to_string(pid);
  line += "] ";
  line += host;
  if (!client_ip.empty()) {
    line += " (";
    line += client_name.empty() ? client_ip : client_name;
    line += '[';
    line += client_ip;
    line += "])";
  }
  line += ": ";
  line += message;
  line += '\n';
  return line;
}

void Write(Level level, std::string_view message) {
  State& s = S();
  if (level == Level::kDebug && !DebugEnabled(1)) return;
  if (s.use_syslog && s.system_fd < 0) {
    const int prio = level == Level::kError  ? LOG_ERR
                     : level == Level::kWarn ? LOG_WARNING
                     : level == Level::kInfo ? LOG_INFO
                                             : LOG_DEBUG;
    std::string m(message);
    if (!s.client_ip.empty())
      m = Host() + " (" + (s.client_name.empty() ? s.client_ip : s.client_name) + "[" +
          s.client_ip + "]): " + m;
    ::syslog(prio, "%s", m.c_str());
    return;
  }
  if (s.pid == 0) s.pid = ::getpid();
  const std::string line =
      FormatSystemLine(util::RealtimeNs(), Host(), s.pid, s.client_name, s.client_ip, message);
  const int fd = s.system_fd >= 0 ? s.system_fd : STDERR_FILENO;
  if (s.lost_system + s.lost_transfer > 0) {
    std::string lost;
    if (s.lost_system > 0) lost = std::to_string(s.lost_system) + " SystemLog line(s)";
    if (s.lost_transfer > 0)
      lost +=
          (lost.empty() ? "" : " and ") + std::to_string(s.lost_transfer) + " TransferLog line(s)";
    lost += " of this process lost: " + std::string(std::strerror(s.lost_errno));
    if (!util::WriteAll(fd, FormatSystemLine(util::RealtimeNs(), Host(), s.pid, {}, {}, lost))) {
      ++s.lost_system;  // still no room: this line is lost too
      return;
    }
    s.lost_system = s.lost_transfer = 0;
  }
  if (auto r = util::WriteAll(fd, line); !r) {
    ++s.lost_system;
    s.lost_errno = r.error().sys_errno();
  }
}

void Debug(int level, std::string_view message) {
  if (DebugEnabled(level)) {
    const int saved = errno;
    std::string m = "debug: ";
    m += message;
    Write(Level::kInfo, m);
    errno = saved;
  }
}

std::string FormatXferLine(const XferRecord& r) {
  const time_t t = static_cast<time_t>(r.now_s);
  struct tm tm;
  ::localtime_r(&t, &tm);
  char stamp[64];
  ::strftime(stamp, sizeof stamp, "%a %b %d %H:%M:%S %Y", &tm);
  // xferlog fields are space-separated: spaces inside names become '_'
  // (as wu-ftpd and ProFTPD do), control bytes '?'.
  auto field = [](std::string_view v) {
    std::string f = util::EscapeControl(v);
    for (char& c : f)
      if (c == ' ' || c == '\t') c = '_';
    if (f.empty()) f = "*";
    return f;
  };
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %lld ", stamp, static_cast<long long>(r.seconds));
  std::string line = buf;
  line += field(r.remote_host);
  line += ' ';
  line += std::to_string(r.bytes);
  line += ' ';
  line += field(r.filename);
  line += r.ascii ? " a _ " : " b _ ";
  line += r.direction;
  line += ' ';
  line += r.access_mode;
  line += ' ';
  line += field(r.username);
  line += " ftp 0 * ";
  line += r.complete ? 'c' : 'i';
  line += '\n';
  return line;
}

void WriteXfer(const XferRecord& r) {
  State& s = S();
  if (s.transfer_fd < 0) return;
  if (auto w = util::WriteAll(s.transfer_fd, FormatXferLine(r)); !w) {
    ++s.lost_transfer;
    s.lost_errno = w.error().sys_errno();
  }
}

}  // namespace poolftpd::log
