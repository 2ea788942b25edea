// Fuzz target: the config lexer and parser (src/config), Include and
// <IfDefine> included. The input is split at the first line "#--include--"
// into the top file and a second file, written as main.conf and inc.conf to
// a scratch directory; the top file may Include "inc.conf" (or a pattern of
// the directory). The defines FUZZ and TLS are set, so <IfDefine FUZZ>,
// <IfDefine !FUZZ> and others take both branches.
// The target only reads its own scratch files: an input whose Include names
// anything but a plain file name (an absolute path, "..", a '/') is
// skipped, so /dev and /proc are never read (the lexer decides what the
// parser sees, so the check uses it too).
// Properties:
//  - Load never crashes, and every error is "FILE:LINE: reason" (or
//    "FILE: reason") naming one of the two files.
//  - LoadFromString of the top file's text agrees with Load (same result,
//    same message).
//  - A loaded config answers the questions the server asks of it
//    (listeners, policies, <Limit> verdicts) without crashing.
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "lexer.h"
#include "poolftpd/config/config.h"
#include "poolftpd/util/net.h"
#include "text.h"

namespace poolftpd::fuzz {
namespace {

ScratchDir* g_dir = nullptr;

// True when every Include in `text` names a file of the scratch directory.
bool IncludesStayInside(std::string_view text) {
  auto lexed = config::internal::Lex(text, "x");
  if (!lexed) return true;  // the parser stops at the same error
  for (const auto& line : lexed->lines) {
    if (line.words.empty() || !config::internal::EqualsIgnoreCase(line.words[0], "Include"))
      continue;
    for (size_t i = 1; i < line.words.size(); ++i) {
      const std::string& w = line.words[i];
      if (w.empty() || w.find('/') != std::string::npos || w.find("..") != std::string::npos ||
          w.find('\0') != std::string::npos || w.front() == '~')
        return false;
    }
  }
  return true;
}

void CheckMessage(const Error& e) {
  // "FILE:LINE: reason" or "FILE: reason", FILE one of the scratch files.
  const std::string& m = e.context();
  const std::string dir = g_dir->path() + "/";
  FUZZ_CHECK(m.starts_with(dir) && m.find(": ") != std::string::npos, "error names no file: \"%s\"",
             Printable(m).c_str());
  FUZZ_CHECK(m.find('\n') == std::string::npos, "error message spans lines: \"%s\"",
             Printable(m).c_str());
}

void Exercise(const config::Config& cfg) {
  (void)config::Listeners(cfg);
  std::string scratch;
  const config::Anonymous* anon = cfg.anonymous ? &*cfg.anonymous : nullptr;
  const std::string home = anon ? anon->root : "/";
  static const char* kPaths[] = {"/", "/pub", "/pub/sub/file", "/incoming", "/.."};
  static const char* kVerbs[] = {"RETR", "LIST", "STOR", "LOGIN", "SITE_CHMOD", "CWD", "ALL"};
  const auto addr = *net::IpAddress::Parse("127.0.0.1");
  const auto addr6 = *net::IpAddress::Parse("2001:db8::1");
  for (const char* p : kPaths) {
    const config::Policy pol = config::FindPolicy(cfg, anon, home, p, &scratch);
    (void)pol.read_only();
    for (size_t i = 0; i < pol.directory_count; ++i)
      for (const auto& l : pol.directories[i]->limits)
        for (const char* v : kVerbs) (void)l.Match(v);
  }
  (void)config::BasePolicy(cfg, anon);
  for (const auto& l : cfg.limits) {
    (void)l.Evaluate(addr);
    (void)l.Evaluate(addr6);
    for (const char* v : kVerbs) (void)l.Match(v);
  }
  (void)cfg.FindAnonymous("anonymous");
  (void)cfg.ResolveUserAlias("ftp");
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  poolftpd::fuzz::g_dir = new poolftpd::fuzz::ScratchDir("config_fuzz");
  std::atexit([] { delete poolftpd::fuzz::g_dir; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd;
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const std::string_view top = in.TakeUntil("\n#--include--\n");
  const std::string_view inc = in.rest();
  if (!IncludesStayInside(top) || !IncludesStayInside(inc)) return 0;
  const std::string main_path = *g_dir / "main.conf";
  const std::string inc_path = *g_dir / "inc.conf";
  WriteWholeFile(main_path, top);
  WriteWholeFile(inc_path, inc);
  const std::vector<std::string> defines = {"FUZZ", "TLS"};

  config::Config partial;
  auto cfg = config::Load(main_path, defines, &partial);
  auto from_string = config::LoadFromString(top, main_path, defines);
  FUZZ_CHECK(cfg.has_value() == from_string.has_value(), "Load %s, LoadFromString %s: \"%s\"",
             cfg ? "succeeded" : "failed", from_string ? "succeeded" : "failed",
             Printable(cfg ? from_string.error().context() : cfg.error().context()).c_str());
  if (!cfg) {
    CheckMessage(cfg.error());
    FUZZ_CHECK(cfg.error().context() == from_string.error().context(),
               "Load: \"%s\", LoadFromString: \"%s\"", Printable(cfg.error().context()).c_str(),
               Printable(from_string.error().context()).c_str());
    Exercise(partial);
    return 0;
  }
  Exercise(**cfg);
  return 0;
}
