#include "report.h"

#include <cmath>
#include <cstdio>

namespace poolftpd::ftpbench {

namespace {

// Length of the valid UTF-8 sequence at the start of `s`, 0 if invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

// Server text made safe for a terminal: control bytes and invalid UTF-8
// become \xHH.
std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    const std::size_t len = Utf8SequenceLength(text);
    const auto c = static_cast<unsigned char>(text[0]);
    if (len == 0 || (len == 1 && (c < 0x20 || c == 0x7F)) || c == '\\') {
      char buf[8];
      if (c == '\\') {
        out += "\\\\";
      } else {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      }
      text.remove_prefix(1);
      continue;
    }
    out.append(text.substr(0, len));
    text.remove_prefix(len);
  }
  return out;
}

std::string Num(double v, int decimals = 3) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Appends JSON members separated by commas.
class JsonObject {
 public:
  void Raw(std::string_view key, std::string_view json) {
    out_ += out_.empty() ? "{" : ",";
    out_ += JsonString(key);
    out_ += ':';
    out_ += json;
  }
  void Str(std::string_view key, std::string_view v) { Raw(key, JsonString(v)); }
  void Int(std::string_view key, uint64_t v) { Raw(key, std::to_string(v)); }
  void Dbl(std::string_view key, double v) { Raw(key, Num(v)); }
  void OptInt(std::string_view key, const std::optional<uint64_t>& v) {
    Raw(key, v ? std::to_string(*v) : "null");
  }
  void OptDbl(std::string_view key, const std::optional<double>& v) {
    Raw(key, v ? Num(*v) : "null");
  }
  std::string Done() { return out_.empty() ? "{}" : out_ + "}"; }

 private:
  std::string out_;
};

std::optional<double> PerSession(const std::optional<MemoryUsage>& m, uint64_t MemoryUsage::*field,
                                 uint64_t sessions) {
  if (!m || sessions == 0) return std::nullopt;
  return static_cast<double>((*m).*field) / static_cast<double>(sessions);
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  while (!text.empty()) {
    const std::size_t len = Utf8SequenceLength(text);
    if (len == 0) {
      out += "\\ufffd";
      text.remove_prefix(1);
      continue;
    }
    const auto c = static_cast<unsigned char>(text[0]);
    if (len == 1 && (c < 0x20 || c == '"' || c == '\\' || c == 0x7F)) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
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
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        }
      }
    } else {
      out.append(text.substr(0, len));
    }
    text.remove_prefix(len);
  }
  out += '"';
  return out;
}

std::string FormatJson(const Report& r) {
  JsonObject o;
  o.Str("mode", r.mode);
  o.Str("host", r.host);
  o.Int("port", static_cast<uint64_t>(r.port));
  o.Int("clients", static_cast<uint64_t>(r.clients));
  o.Dbl("duration_s", r.duration_s);
  if (r.rcvlowat) o.Int("rcvlowat", static_cast<uint64_t>(*r.rcvlowat));
  if (r.sessions) o.Int("sessions", *r.sessions);
  if (r.sessions_per_sec) o.Dbl("sessions_per_sec", *r.sessions_per_sec);
  if (r.latency) {
    JsonObject l;
    l.Dbl("p50", r.latency->p50_ms);
    l.Dbl("p99", r.latency->p99_ms);
    l.Dbl("max", r.latency->max_ms);
    o.Raw("latency_ms", l.Done());
  } else if (r.mode == "login" || r.mode == "small") {
    o.Raw("latency_ms", "null");  // no session completed
  }
  if (r.bytes) o.Int("bytes", *r.bytes);
  if (r.transfers) o.Int("transfers", *r.transfers);
  if (r.mb_per_sec) o.Dbl("mb_per_sec", *r.mb_per_sec);
  if (r.mb_per_sec_per_client) o.Dbl("mb_per_sec_per_client", *r.mb_per_sec_per_client);
  if (r.list) {
    JsonObject l;
    l.Dbl("list_ms", r.list->list_ms);
    l.Dbl("mlsd_ms", r.list->mlsd_ms);
    l.Int("list_entries", r.list->list_entries);
    l.Int("mlsd_entries", r.list->mlsd_entries);
    l.Int("repeat", static_cast<uint64_t>(r.list->repeat));
    o.Raw("list", l.Done());
  }
  if (r.idle) {
    const IdleFigures& f = *r.idle;
    JsonObject i;
    i.Int("requested", f.requested);
    i.Int("sessions", f.sessions);
    i.Dbl("login_s", f.login_s);
    i.Dbl("hold_s", f.hold_s);
    i.OptInt("server_processes", f.server_processes);
    i.OptInt("rss_kb", f.memory ? std::optional(f.memory->rss_kb) : std::nullopt);
    i.OptInt("pss_kb", f.memory ? std::optional(f.memory->pss_kb) : std::nullopt);
    i.OptInt("uss_kb", f.memory ? std::optional(f.memory->uss_kb) : std::nullopt);
    i.OptDbl("rss_kb_per_session", PerSession(f.memory, &MemoryUsage::rss_kb, f.sessions));
    i.OptDbl("pss_kb_per_session", PerSession(f.memory, &MemoryUsage::pss_kb, f.sessions));
    i.OptDbl("uss_kb_per_session", PerSession(f.memory, &MemoryUsage::uss_kb, f.sessions));
    o.Raw("idle", i.Done());
  }
  if (r.measured_server) {
    o.OptDbl("server_cpu_ms", r.server_cpu_ms);
    if (r.mode == "big") {
      o.OptDbl("server_cpu_ms_per_gb", r.server_cpu_ms_per_gb);
    } else if (r.mode != "list") {
      o.OptDbl("server_cpu_ms_per_session", r.server_cpu_ms_per_session);
    }
  }
  o.Int("failures", r.failures);
  std::string samples = "[";
  for (const FailureSample& s : r.failure_samples) {
    JsonObject f;
    f.Str("text", s.text);
    f.Int("count", s.count);
    if (samples.size() > 1) samples += ',';
    samples += f.Done();
  }
  o.Raw("failure_samples", samples + "]");
  if (!r.notes.empty()) {
    std::string notes = "[";
    for (const std::string& n : r.notes) {
      if (notes.size() > 1) notes += ',';
      notes += JsonString(n);
    }
    o.Raw("notes", notes + "]");
  }
  return o.Done() + "\n";
}

std::string FormatText(const Report& r) {
  std::string out = "====== ftpbench " + r.mode + " ======\n";
  out += "  " + r.host + " port " + std::to_string(r.port) + ", " + std::to_string(r.clients) +
         (r.clients == 1 ? " client" : " clients") + ", " + Num(r.duration_s) + " s" +
         (r.rcvlowat ? ", SO_RCVLOWAT " + std::to_string(*r.rcvlowat) : "") + "\n";
  if (r.sessions && r.mode != "idle") {
    out += "  " + std::to_string(*r.sessions) + " sessions";
    if (r.sessions_per_sec) out += ", " + Num(*r.sessions_per_sec, 1) + " sessions/s";
    out += "\n";
  }
  if (r.latency) {
    out += "  latency per session: p50 " + Num(r.latency->p50_ms) + " ms, p99 " +
           Num(r.latency->p99_ms) + " ms, max " + Num(r.latency->max_ms) + " ms\n";
  } else if (r.mode == "login" || r.mode == "small") {
    out += "  latency per session: - (no session completed)\n";
  }
  if (r.bytes) {
    out += "  " + std::to_string(*r.bytes) + " bytes";
    if (r.transfers) out += " in " + std::to_string(*r.transfers) + " transfers";
    if (r.mb_per_sec) out += ", " + Num(*r.mb_per_sec, 1) + " MB/s";
    if (r.mb_per_sec_per_client)
      out += " (" + Num(*r.mb_per_sec_per_client, 1) + " MB/s per client)";
    out += "\n";
  }
  if (r.list) {
    out += "  LIST " + Num(r.list->list_ms) + " ms (" + std::to_string(r.list->list_entries) +
           " entries), MLSD " + Num(r.list->mlsd_ms) + " ms (" +
           std::to_string(r.list->mlsd_entries) + " entries), median of " +
           std::to_string(r.list->repeat) + "\n";
  }
  if (r.idle) {
    const IdleFigures& f = *r.idle;
    out += "  " + std::to_string(f.sessions) + " of " + std::to_string(f.requested) +
           " sessions logged in within " + Num(f.login_s) + " s, held " + Num(f.hold_s, 1) + " s\n";
    if (f.server_processes) {
      out += "  server: " + std::to_string(*f.server_processes) + " processes";
      if (f.memory) {
        const auto per = [&](uint64_t MemoryUsage::*field) {
          auto v = PerSession(f.memory, field, f.sessions);
          return v ? Num(*v, 1) : std::string("-");
        };
        out += ", RSS " + std::to_string(f.memory->rss_kb) + " kB, PSS " +
               std::to_string(f.memory->pss_kb) + " kB, USS " + std::to_string(f.memory->uss_kb) +
               " kB\n  per session: RSS " + per(&MemoryUsage::rss_kb) + " kB, PSS " +
               per(&MemoryUsage::pss_kb) + " kB, USS " + per(&MemoryUsage::uss_kb) + " kB";
      }
      out += "\n";
    }
  }
  if (r.measured_server) {
    out += "  server CPU: " + (r.server_cpu_ms ? Num(*r.server_cpu_ms, 1) + " ms" : "-");
    if (r.mode == "big" && r.server_cpu_ms_per_gb) {
      out += ", " + Num(*r.server_cpu_ms_per_gb, 1) + " ms/GB";
    } else if (r.mode != "big" && r.mode != "list" && r.server_cpu_ms_per_session) {
      out += ", " + Num(*r.server_cpu_ms_per_session) + " ms/session";
    }
    out += "\n";
  }
  out += "  failures: " + std::to_string(r.failures) + "\n";
  for (const FailureSample& s : r.failure_samples) {
    out += "    " + std::to_string(s.count) + "x " + EscapeForTerminal(s.text) + "\n";
  }
  for (const std::string& n : r.notes) out += "  note: " + EscapeForTerminal(n) + "\n";
  return out;
}

}  // namespace poolftpd::ftpbench
