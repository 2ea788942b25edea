// Fuzz target: the scoreboard reader fed corrupted files, as the tools read
// them: sb::Scoreboard::Open on the input written as a scoreboard file, the
// header and slot readers, tools::LoadSnapshot/OpenLive (ftpwho, ftpcount)
// and every formatter (text, -v, oneline, JSON, ftpcount).
// The first input byte chooses how much of the file is the fuzzer's: mode 0
// writes the bytes as they are (size, magic and version checks); the other
// modes lay the bytes over a file with a valid magic, version, sizes and
// 1-4 slots, and make its master this process (live), none (inetd) or
// whatever the bytes say, so the slot readers and formatters see garbage
// past the checks. Properties:
//  - SECURITY (S7): nothing the file holds crashes a reader; what the tools
//    print of it is valid UTF-8 without control characters (C0 but the
//    layout's '\n' and '\t', DEL,
//    C1) or bidirectional overrides, and JSON output is one line of valid
//    UTF-8 without raw control bytes.
//  - Readers never hand out more slots than the validated count.
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "../../tools/common/format.h"
#include "../../tools/common/source.h"
#include "fuzz_util.h"
#include "poolftpd/scoreboard/layout.h"
#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::fuzz {
namespace {

ScratchDir* g_dir = nullptr;

template <class T>
void Put(std::string* file, size_t offset, T value) {
  std::memcpy(file->data() + offset, &value, sizeof value);
}

// Decodes one UTF-8 sequence at `s[i]`; 0 when invalid.
size_t Utf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? b : b & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 2) return 0;
    v = (v << 6) | (c & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

// What may reach an operator's terminal.
void CheckTerminalSafe(std::string_view out, bool json, const char* what) {
  if (json && out.ends_with('\n')) out.remove_suffix(1);  // the line's end
  for (size_t i = 0; i < out.size();) {
    uint32_t cp = 0;
    const size_t len = Utf8(out, i, &cp);
    FUZZ_CHECK(len != 0, "%s: invalid UTF-8 at byte %zu: \"%s\"", what, i,
               Printable(out.substr(i > 20 ? i - 20 : 0, 60)).c_str());
    // The text formats lay out with '\n' and '\t' (client text never
    // holds them raw: EscapeText writes \n, \t).
    const bool layout = !json && (cp == '\n' || cp == '\t');
    const bool control = (cp < 0x20 && !layout) || (cp >= 0x7f && cp < 0xa0);
    const bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
                      cp == 0x200e || cp == 0x200f || cp == 0x061c;
    FUZZ_CHECK(!control && !bidi, "%s: code point U+%04X at byte %zu: \"%s\"", what, cp, i,
               Printable(out.substr(i > 20 ? i - 20 : 0, 60)).c_str());
    i += len;
  }
}

void FormatAll(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
               int64_t now_ns) {
  for (const auto& s : slots)
    FUZZ_CHECK(s.index < header.slot_count, "slot %zu of %u", s.index, header.slot_count);
  tools::WhoOptions plain, verbose, oneline;
  verbose.verbose = true;
  oneline.verbose = oneline.oneline = true;
  CheckTerminalSafe(tools::FormatWho(header, slots, now_ns, plain), false, "ftpwho");
  CheckTerminalSafe(tools::FormatWho(header, slots, now_ns, verbose), false, "ftpwho -v");
  CheckTerminalSafe(tools::FormatWho(header, slots, now_ns, oneline), false, "ftpwho -o oneline");
  CheckTerminalSafe(tools::FormatWhoJson(header, slots, now_ns), true, "ftpwho --json");
  tools::CountOptions all, named;
  named.server = std::string(header.server_name);
  CheckTerminalSafe(tools::FormatCount(header, slots, all), false, "ftpcount");
  CheckTerminalSafe(tools::FormatCount(header, slots, named), false, "ftpcount -S");
  CheckTerminalSafe(tools::FormatCountJson(header, slots, all), true, "ftpcount --json");
  (void)tools::ShutdownJson(header.shutdown_time, header.deny_time, header.disconnect_time,
                            header.shutdown_msg, true);
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  poolftpd::fuzz::g_dir = new poolftpd::fuzz::ScratchDir("scoreboard_fuzz");
  std::atexit([] { delete poolftpd::fuzz::g_dir; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd;
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const unsigned mode = in.Byte();
  std::string file(in.rest());
  if (mode % 4 != 0) {
    const uint32_t slots = 1 + (mode >> 2) % 4;
    const size_t want = sizeof(sb::Header) + slots * sizeof(sb::Slot);
    file.resize(want, '\0');
    Put(&file, offsetof(sb::Header, magic), sb::kMagic);
    Put(&file, offsetof(sb::Header, layout_version), sb::kLayoutVersion);
    Put(&file, offsetof(sb::Header, header_size), static_cast<uint32_t>(sizeof(sb::Header)));
    Put(&file, offsetof(sb::Header, slot_size), static_cast<uint32_t>(sizeof(sb::Slot)));
    Put(&file, offsetof(sb::Header, slot_count), slots);
    if (mode % 4 == 1) {  // a live master: this process
      Put(&file, offsetof(sb::Header, master_pid), static_cast<int32_t>(::getpid()));
      Put(&file, offsetof(sb::Header, master_start_ticks), sb::ProcessStartTicks(::getpid()));
    } else if (mode % 4 == 2) {  // inetd mode
      Put(&file, offsetof(sb::Header, master_pid), int32_t{0});
      char type[16] = "inetd";
      std::memcpy(file.data() + offsetof(sb::Header, server_type), type, sizeof type);
    }
    if (mode & 0x40) {  // seqlocks even: the copies are consistent at once
      for (uint32_t i = 0; i < slots; ++i) {
        const size_t at = sizeof(sb::Header) + i * sizeof(sb::Slot) + offsetof(sb::Slot, seq);
        file[at] = static_cast<char>(file[at] & ~1);
      }
      file[offsetof(sb::Header, name_seq)] &= ~1;
      file[offsetof(sb::Header, shutdown_seq)] &= ~1;
    }
  }
  const std::string path = *g_dir / "poolftpd.scoreboard";
  WriteWholeFile(path, file);

  auto board = sb::Scoreboard::Open(path);
  if (!board) {
    const std::string m = board.error().message();
    FUZZ_CHECK(m.find(path) != std::string::npos, "error does not name the file: \"%s\"",
               Printable(m).c_str());
    return 0;
  }
  const sb::HeaderView header = board->ReadHeader();
  FUZZ_CHECK(header.slot_count >= 1 && header.slot_count <= sb::kMaxSlots, "slot_count %u",
             header.slot_count);
  FUZZ_CHECK(board->scan_limit() <= header.slot_count, "scan limit %u of %u slots",
             board->scan_limit(), header.slot_count);
  (void)board->MasterAlive();
  std::vector<sb::SlotView> slots = board->ReadAll();
  for (size_t i = 0; i < header.slot_count; ++i) {
    (void)board->PeekState(i);
    (void)board->PeekGeneration(i);
  }
  (void)board->Read(header.slot_count);  // out of range: an empty view
  FormatAll(header, slots, tools::NowNs());

  // The tools' own path: liveness check, then the streaming formatters.
  if (auto live = tools::OpenLive(path)) {
    tools::WhoFormatter who(live->header, live->now_ns, tools::WhoOptions{});
    tools::WhoJsonFormatter wj(live->header, live->now_ns);
    tools::CountFormatter count(live->header, tools::CountOptions{});
    live->board.ForEachSlot(sb::kReadBrief, [&](const sb::SlotView& v) {
      who.Add(v);
      wj.Add(v);
      count.Add(v);
    });
    who.Finish();
    wj.Finish();
    CheckTerminalSafe(who.out(), false, "ftpwho (streamed)");
    CheckTerminalSafe(wj.head() + wj.body(), true, "ftpwho --json (streamed)");
    CheckTerminalSafe(count.Text(), false, "ftpcount (streamed)");
  }
  if (auto snap = tools::LoadSnapshot(path)) FormatAll(snap->header, snap->slots, snap->now_ns);
  return 0;
}
