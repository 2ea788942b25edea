// ftpwho/ftpcount output: see format.h for the formats and the JSON schema.
#include "format.h"

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>

namespace poolftpd::tools {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

__attribute__((format(printf, 2, 3))) void Appendf(std::string* out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  if (static_cast<size_t>(n) < sizeof buf) {
    out->append(buf, static_cast<size_t>(n));
    return;
  }
  std::string big(static_cast<size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, ap);
  va_end(ap);
  big.resize(static_cast<size_t>(n));
  out->append(big);
}

template <class Int>
std::string Num(Int v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

// Decodes one UTF-8 sequence at s[i]; returns its length (0 if invalid) and
// the code point.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t min;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2, min = 0x80, *cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, min = 0x800, *cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3f);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return len;
}

// Code points a terminal or a reader could be fooled by: C0, DEL, C1 (0x9b
// is CSI on many terminals), and the bidirectional overrides/isolates.
bool IsDangerous(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

template <class Int>
void AppendNum(std::string* out, Int v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out->append(buf, end);
}

// Whether `text` is printable ASCII without a backslash: EscapeText() and
// JsonString() (no '"' either) copy such text as it is. Nearly all text is.
bool PlainAscii(std::string_view text, bool json) {
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f || b == '\\' || (json && b == '"')) return false;
  }
  return true;
}

void AppendEscaped(std::string* out, std::string_view text) {
  if (PlainAscii(text, false)) {
    out->append(text);
  } else {
    out->append(EscapeText(text));
  }
}

void AppendJson(std::string* out, std::string_view text) {
  if (PlainAscii(text, true)) {
    out->push_back('"');
    out->append(text);
    out->push_back('"');
  } else {
    out->append(JsonString(text));
  }
}

// `text` right-aligned in `width` bytes (printf's "%5s").
void AppendRight(std::string* out, std::string_view text, size_t width) {
  if (text.size() < width) out->append(width - text.size(), ' ');
  out->append(text);
}

int64_t SecondsBetween(int64_t start_ns, int64_t now_ns) {
  if (start_ns <= 0 || now_ns <= start_ns) return 0;
  return (now_ns - start_ns) / kNsPerSec;
}

// FormatElapsed() into `buf`; returns the length. Hand-formatted: ftpwho
// prints it twice per session (snprintf was a third of its time).
size_t ElapsedTo(char (&buf)[48], int64_t start_ns, int64_t now_ns) {
  if (start_ns <= 0) {
    buf[0] = '-';
    return 1;
  }
  const int64_t s = SecondsBetween(start_ns, now_ns);
  const bool hours = s >= 3600;
  char* p = buf;
  char* const end = buf + sizeof buf;
  p = std::to_chars(p, end, hours ? s / 3600 : s / 60).ptr;
  *p++ = hours ? 'h' : 'm';
  p = std::to_chars(p, end, hours ? (s % 3600) / 60 : s % 60).ptr;
  *p++ = hours ? 'm' : 's';
  return static_cast<size_t>(p - buf);
}

void AppendUser(std::string* out, const sb::SlotRecord& rec) {
  if (rec.user[0]) {
    AppendEscaped(out, rec.user);
  } else {
    out->append("(none)");
  }
}

std::string ServerLabel(const sb::HeaderView& header) { return EscapeText(header.server_name); }

std::string ServerType(const sb::HeaderView& header) {
  return header.server_type[0] ? EscapeText(header.server_type) : std::string("standalone");
}

// "name[ip]" -> "name [ip]"; a bare address -> "ip [ip]" (ProFTPD's look).
std::string ClientLabel(const char* client_addr) {
  const std::string_view s(client_addr);
  const size_t open = s.find('[');
  if (open != std::string_view::npos && open > 0 && s.back() == ']') {
    return EscapeText(s.substr(0, open)) + " [" +
           EscapeText(s.substr(open + 1, s.size() - open - 2)) + "]";
  }
  const std::string e = EscapeText(s);
  return e + " [" + e + "]";
}

bool IsTransfer(const sb::SlotRecord& rec) {
  return rec.state == sb::SlotState::kTransferring && rec.xfer_dir != sb::XferDir::kNone;
}

uint64_t DoneBytes(const sb::SlotView& v) { return v.rec.xfer_offset + v.bytes_done; }

// The command and its argument, or the transfer's path when there is no
// command, escaped.
void AppendCommandLine(std::string* out, const sb::SlotRecord& rec) {
  const size_t before = out->size();
  AppendEscaped(out, rec.cmd);
  if (rec.arg[0]) {
    if (out->size() != before) out->push_back(' ');
    AppendEscaped(out, rec.arg);
  }
  if (out->size() == before && IsTransfer(rec)) AppendEscaped(out, rec.xfer_path);
}

// Adds `v` to `t`; `names` (sorted, distinct) collects the user names of
// logged-in sessions when not null.
void TallySlot(SlotTally* t, const sb::SlotView& v, std::vector<std::string>* names) {
  if (v.updating) {
    ++t->updating;
    return;
  }
  if (v.stale) {
    ++t->stale;
    return;
  }
  if (v.rec.state == sb::SlotState::kReady) ++t->idle_workers;
  if (!IsListedSession(v)) return;
  ++t->sessions;
  if (names && v.rec.state != sb::SlotState::kConnected && v.rec.user[0]) {
    const std::string_view user(v.rec.user);
    auto it = std::lower_bound(names->begin(), names->end(), user);
    if (it == names->end() || *it != user) names->emplace(it, user);
    t->users = static_cast<uint32_t>(names->size());
  }
}

void ServiceClassLine(std::string* out, const std::string& label, uint32_t n) {
  Appendf(out, "Service class %-20s - %3u user%s\n", label.c_str(), n, n == 1 ? "" : "s");
}

}  // namespace

// --------------------------------------------------------------------------

std::string EscapeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      Appendf(&out, "\\x%02x", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x80 && IsDangerous(cp)) {
      Appendf(&out, "\\x%02x", cp);
    } else if (IsDangerous(cp)) {
      Appendf(&out, "\\u%04x", cp);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (IsDangerous(cp)) {
          Appendf(&out, "\\u%04x", cp);
        } else {
          out.append(text.substr(i, len));
        }
    }
    i += len;
  }
  out += '"';
  return out;
}

std::string ShutdownJson(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                         std::string_view message, bool who_aliases) {
  if (shutdown_time <= 0) return "null";
  std::string out =
      "{\"shutdown_time\":" + Num(shutdown_time) + ",\"deny_time\":" + Num(deny_time) +
      ",\"disconnect_time\":" + Num(disconnect_time) + ",\"message\":" + JsonString(message);
  if (who_aliases)
    out += ",\"time\":" + Num(shutdown_time) + ",\"deny\":" + Num(deny_time) +
           ",\"disconnect\":" + Num(disconnect_time);
  return out + "}";
}

std::string FormatElapsed(int64_t start_ns, int64_t now_ns) {
  char buf[48];
  return std::string(buf, ElapsedTo(buf, start_ns, now_ns));
}

std::string FormatUptime(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const long long days = seconds / 86400;
  const long long hours = (seconds / 3600) % 24;
  const long long minutes = (seconds / 60) % 60;
  std::string out;
  if (days) Appendf(&out, "%lld day%s, ", days, days == 1 ? "" : "s");
  if (hours) {
    Appendf(&out, "%2lld hr%s %02lld min", hours, hours == 1 ? "" : "s", minutes);
  } else {
    Appendf(&out, "%lld min", minutes);
  }
  return out;
}

std::string PercentComplete(uint64_t size, uint64_t done) {
  if (done == 0) return "0";
  if (size == 0) return "Inf";
  if (done >= size) return "100";
  const auto pct = static_cast<unsigned>(static_cast<long double>(done) * 100 / size);
  return Num(pct);
}

uint64_t TransferRate(const sb::SlotView& slot, int64_t now_ns) {
  const int64_t start = slot.rec.xfer_start_ns;
  if (start <= 0 || now_ns <= start) return 0;
  const long double secs = static_cast<long double>(now_ns - start) / kNsPerSec;
  if (secs < 1e-3) return 0;
  return static_cast<uint64_t>(static_cast<long double>(slot.bytes_done) / secs);
}

bool IsListedSession(const sb::SlotView& slot) {
  return !slot.updating && !slot.stale && sb::IsSessionState(slot.rec.state);
}

// --------------------------------------------------------------------------
// ftpwho

WhoFormatter::WhoFormatter(const sb::HeaderView& header, int64_t now_ns, const WhoOptions& options)
    : header_(header), now_ns_(now_ns), options_(options), server_label_(ServerLabel(header)) {
  if (sb::IsInetd(header)) {
    out_ += "inetd FTP daemon:\n";  // ProFTPD's line when there is no master
  } else {
    const int64_t uptime = SecondsBetween(header.start_time_ns, now_ns);
    Appendf(&out_, "%s FTP daemon [%d], up for %s\n", ServerType(header).c_str(), header.master_pid,
            FormatUptime(uptime).c_str());
  }
}

void WhoFormatter::Add(const sb::SlotView& v) {
  TallySlot(&tally_, v, nullptr);
  const sb::SlotRecord& r = v.rec;
  if (options_.verbose && !v.updating && v.stale && r.state != sb::SlotState::kEmpty) {
    // Slots whose session process died without clearing them (inetd mode):
    // never sessions, only shown (after them) with -v.
    Appendf(&stale_, "%5d %-8s [%6s] (stale: process gone)\n", r.pid,
            r.user[0] ? EscapeText(r.user).c_str() : "(none)",
            FormatElapsed(r.session_start_ns, now_ns_).c_str());
  }
  if (!IsListedSession(v)) return;
  std::string& line = out_;  // lines go straight to the output
  // "%5d %-8s [%6s] " without snprintf (the hot line at 10,000 sessions).
  char num[16];
  const size_t pid_len = static_cast<size_t>(std::to_chars(num, num + sizeof num, r.pid).ptr - num);
  AppendRight(&line, std::string_view(num, pid_len), 5);
  line += ' ';
  const size_t user_at = line.size();
  AppendUser(&line, r);
  if (line.size() - user_at < 8) line.append(8 - (line.size() - user_at), ' ');
  line += " [";
  char elapsed[48];
  AppendRight(&line, std::string_view(elapsed, ElapsedTo(elapsed, r.session_start_ns, now_ns_)), 6);
  line += "] ";
  if (r.state == sb::SlotState::kConnected) {
    line += "(authenticating)";
  } else if (r.state == sb::SlotState::kClosing) {
    line += "(closing)";
  } else if (r.state == sb::SlotState::kIdle) {
    AppendRight(&line, std::string_view(elapsed, ElapsedTo(elapsed, r.last_activity_ns, now_ns_)),
                6);
    line += " idle";
  } else if (IsTransfer(r) && r.xfer_dir == sb::XferDir::kRetr && r.xfer_size > 0) {
    Appendf(&line, "(%3s%%) ", PercentComplete(r.xfer_size, DoneBytes(v)).c_str());
    AppendCommandLine(&line, r);
    // The issue asks for the rate on the session line itself (ProFTPD shows
    // it only with -v).
    Appendf(&line, " KB/s: %.2f", static_cast<double>(TransferRate(v, now_ns_)) / 1024.0);
  } else {
    line += "(n/a) ";
    AppendCommandLine(&line, r);
  }

  if (options_.verbose) {
    // Detail items go on their own tab-indented lines, or on the session's
    // line with -o oneline.
    const char* sep = options_.oneline ? " " : "\n\t";
    if (IsTransfer(r) && !(r.xfer_dir == sb::XferDir::kRetr && r.xfer_size > 0)) {
      line += sep;
      Appendf(&line, "KB/s: %.2f", static_cast<double>(TransferRate(v, now_ns_)) / 1024.0);
    }
    if (r.client_addr[0]) {
      line += sep;
      line += "client: ";
      line += ClientLabel(r.client_addr);
    }
    if (r.server_addr[0]) {
      line += sep;
      line += "server: ";
      AppendEscaped(&line, r.server_addr);
      line += " (";
      line += server_label_;
      line += ')';
    }
    if (r.protocol[0]) {
      line += sep;
      line += "protocol: ";
      AppendEscaped(&line, r.protocol);
    }
    if (r.cwd[0] && r.state != sb::SlotState::kConnected) {
      line += sep;
      line += "location: ";
      AppendEscaped(&line, r.cwd);
    }
  }
  line += '\n';
}

void WhoFormatter::Finish() {
  const bool verbose = options_.verbose;
  if (verbose) out_ += stale_;
  stale_.clear();
  const SlotTally& tally = tally_;
  if (tally.sessions == 0) {
    out_ += "no users connected\n";
  } else {
    ServiceClassLine(&out_, server_label_, tally.sessions);
  }
  if (verbose) {
    const sb::HeaderView& header = header_;
    if (sb::IsInetd(header)) {
      Appendf(&out_, "%u slot%s\n", header.slot_count, header.slot_count == 1 ? "" : "s");
    } else {
      Appendf(&out_, "%u idle worker%s in the pool, %u slot%s, generation %u\n", tally.idle_workers,
              tally.idle_workers == 1 ? "" : "s", header.slot_count,
              header.slot_count == 1 ? "" : "s", header.generation);
    }
    if (tally.stale) {
      Appendf(&out_, "%u stale slot%s (session process gone)\n", tally.stale,
              tally.stale == 1 ? "" : "s");
    }
    if (tally.updating) {
      Appendf(&out_, "%u slot%s being updated or unreadable\n", tally.updating,
              tally.updating == 1 ? "" : "s");
    }
  }
}

std::string FormatWho(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                      int64_t now_ns, const WhoOptions& options) {
  WhoFormatter f(header, now_ns, options);
  for (const sb::SlotView& v : slots) f.Add(v);
  f.Finish();
  return std::move(f.out());
}

WhoJsonFormatter::WhoJsonFormatter(const sb::HeaderView& header, int64_t now_ns)
    : header_(header), now_ns_(now_ns) {}

void WhoJsonFormatter::Add(const sb::SlotView& v) {
  TallySlot(&tally_, v, nullptr);
  if (!IsListedSession(v)) return;
  const sb::SlotRecord& r = v.rec;
  std::string& out = body_;
  if (!first_) out += ',';
  first_ = false;
  out += "{\"pid\":";
  AppendNum(&out, r.pid);
  out += ",\"user\":";
  AppendJson(&out, r.user);
  out += ",\"state\":";
  AppendJson(&out, sb::SlotStateName(r.state));
  out += ",\"generation\":";
  AppendNum(&out, r.generation);
  out += ",\"command\":";
  AppendJson(&out, r.cmd);
  out += ",\"argument\":";
  AppendJson(&out, r.arg);
  out += ",\"client\":";
  AppendJson(&out, r.client_addr);
  out += ",\"server\":";
  AppendJson(&out, r.server_addr);
  out += ",\"protocol\":";
  AppendJson(&out, r.protocol);
  out += ",\"cwd\":";
  AppendJson(&out, r.cwd);
  out += ",\"session_start\":";
  AppendNum(&out, r.session_start_ns / kNsPerSec);
  out += ",\"idle_seconds\":";
  AppendNum(&out, r.state == sb::SlotState::kTransferring
                      ? 0
                      : SecondsBetween(r.last_activity_ns, now_ns_));
  out += ",\"transfer\":";
  if (IsTransfer(r)) {
    out += "{\"direction\":";
    AppendJson(&out, sb::XferDirName(r.xfer_dir));
    out += ",\"path\":";
    AppendJson(&out, r.xfer_path);
    out += ",\"size\":";
    AppendNum(&out, r.xfer_size);
    out += ",\"offset\":";
    AppendNum(&out, r.xfer_offset);
    out += ",\"bytes_done\":";
    AppendNum(&out, v.bytes_done);
    out += ",\"percent\":";
    if (r.xfer_size > 0) {
      const long double pct =
          std::min<long double>(100, static_cast<long double>(DoneBytes(v)) * 100 / r.xfer_size);
      Appendf(&out, "%.1f", static_cast<double>(pct));
    } else {
      out += "null";
    }
    out += ",\"rate_bytes_per_sec\":";
    AppendNum(&out, TransferRate(v, now_ns_));
    out += '}';
  } else {
    out += "null";
  }
  out += '}';
}

void WhoJsonFormatter::Finish() { body_ += "]}\n"; }

std::string WhoJsonFormatter::head() const {
  const sb::HeaderView& header = header_;
  const SlotTally& tally = tally_;
  std::string out = "{\"server\":{";
  out += "\"pid\":" + Num(header.master_pid);
  out += ",\"started\":" + Num(header.start_time_ns / kNsPerSec);
  out += ",\"generation\":" + Num(header.generation);
  out += ",\"type\":" + JsonString(header.server_type[0] ? header.server_type : "standalone");
  out += ",\"uptime\":" + Num(SecondsBetween(header.start_time_ns, now_ns_));
  out += ",\"name\":" + JsonString(header.server_name);
  out += ",\"max_clients\":" + Num(header.max_clients);
  out += ",\"slots\":" + Num(header.slot_count);
  out += ",\"idle_workers\":" + Num(tally.idle_workers);
  out += ",\"updating_slots\":" + Num(tally.updating);
  out += ",\"stale_slots\":" + Num(tally.stale);
  out += ",\"total_sessions\":" + Num(header.total_sessions);
  out += ",\"total_bytes\":" + Num(header.total_bytes);
  out += ",\"shutdown\":" + ShutdownJson(header.shutdown_time, header.deny_time,
                                         header.disconnect_time, header.shutdown_msg,
                                         /*who_aliases=*/true);
  out += "},\"connections\":[";
  return out;
}

std::string FormatWhoJson(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                          int64_t now_ns) {
  WhoJsonFormatter f(header, now_ns);
  for (const sb::SlotView& v : slots) f.Add(v);
  f.Finish();
  return f.head() + f.body();
}

// --------------------------------------------------------------------------
// ftpcount

CountFormatter::CountFormatter(const sb::HeaderView& header, const CountOptions& options)
    : header_(header), options_(options) {}

void CountFormatter::Add(const sb::SlotView& slot) { TallySlot(&tally_, slot, &names_); }

namespace {
bool ServerMatches(const sb::HeaderView& header, const CountOptions& options) {
  return !options.server || *options.server == header.server_name;
}
}  // namespace

std::string CountFormatter::Text() const {
  const sb::HeaderView& header = header_;
  std::string out;
  if (sb::IsInetd(header)) {
    out += "inetd FTP connections:\n";  // ProFTPD's line when there is no master
  } else {
    Appendf(&out, "Master poolftpd process %d:\n", header.master_pid);
  }
  if (options_.server) out += "poolftpd Server '" + EscapeText(*options_.server) + "'\n";
  const uint32_t n = ServerMatches(header, options_) ? tally_.sessions : 0;
  if (n == 0) {
    out += "0 users\n";
  } else {
    ServiceClassLine(&out, ServerLabel(header), n);
  }
  return out;
}

std::string CountFormatter::Json() const {
  const sb::HeaderView& header = header_;
  const bool match = ServerMatches(header, options_);
  std::string out = "{\"master_pid\":" + Num(header.master_pid) + ",\"servers\":[";
  if (match) {
    out += "{\"name\":" + JsonString(header.server_name) + ",\"sessions\":" + Num(tally_.sessions) +
           ",\"users\":" + Num(tally_.users) + "}";
  }
  out += "],\"sessions\":" + Num(match ? tally_.sessions : 0u);
  out += ",\"users\":" + Num(match ? tally_.users : 0u) + "}\n";
  return out;
}

std::string FormatCount(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                        const CountOptions& options) {
  CountFormatter f(header, options);
  for (const sb::SlotView& v : slots) f.Add(v);
  return f.Text();
}

std::string FormatCountJson(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                            const CountOptions& options) {
  CountFormatter f(header, options);
  for (const sb::SlotView& v : slots) f.Add(v);
  return f.Json();
}

}  // namespace poolftpd::tools
