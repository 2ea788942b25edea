// Fuzz target: a whole protocol::Session driven with arbitrary command
// sequences (session_harness.h: in-memory control connection, virtual time,
// loopback-only data connections). Input: one byte for the control
// stream's read sizes, one for the debug level and whether the session
// starts logged in (the harness then sends USER anonymous and PASS first),
// then the client's bytes. Properties:
//  - The session ends (EOF, QUIT, a limit) without crashing, and leaves no
//    fd open behind it.
//  - SECURITY (S2): everything it wrote on the control connection is
//    well-formed RFC 959 replies (no bare LF, no CR that ends a line early,
//    inner lines that cannot pass for a reply), and no more final replies
//    than command lines plus the greeting and one closing 421: no client
//    byte forges or desynchronises a reply.
//  - SECURITY (S3): the file outside the root (the target of a symlink in
//    the tree) never reaches the control or a data connection.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "poolftpd/util/strings.h"
#include "session_harness.h"

namespace poolftpd::fuzz {
namespace {

Harness* g_harness = nullptr;

size_t CountLf(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  poolftpd::fuzz::g_harness = new poolftpd::fuzz::Harness;
  std::atexit([] { delete poolftpd::fuzz::g_harness; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const unsigned seed = in.Byte();
  const unsigned flags = in.Byte();
  std::string input;
  if (flags & 0x10) input = "USER anonymous\r\nPASS fuzz@example.org\r\n";
  input.append(in.rest());
  const int debug = (flags & 0x0f) < 10 && (flags & 0x20) ? flags & 0x0f : 0;

  const int fds_before = CountFds();
  const std::string out = g_harness->Run(input, seed, debug);
  const int fds_after = CountFds();
  // FUZZ_DUMP=1: show the session's replies (to read what an input does).
  if (std::getenv("FUZZ_DUMP") != nullptr) std::fprintf(stderr, "%s", out.c_str());
  FUZZ_CHECK(fds_after == fds_before, "%d fds open before the session, %d after", fds_before,
             fds_after);
  (void)CheckReplies(out, CountLf(input));
  // (Unless the client typed it: replies echo paths.)
  if (poolftpd::util::ToLower(input).find("sentinel") == std::string::npos)
    FUZZ_CHECK(out.find(Harness::kSentinel) == std::string::npos,
               "the file outside the root reached the control connection");
  FUZZ_CHECK(!g_harness->sentinel_seen(), "the file outside the root reached a data connection");
  return 0;
}
