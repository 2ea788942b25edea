#include "poolftpd/config/verbs.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace poolftpd::config {
namespace {

using G = VerbGroup;
using P = PathArg;

// The registry. Groups as ProFTPD's doc/howto/Limit.html lists them (see
// verbs.h); flags as the gate applies them.
constexpr std::array kVerbs = {
    Verb{"USER", kPreLogin | kNeedsArg, G::kNone, P::kNone, true, "<sp> username"},
    Verb{"PASS", kPreLogin | kSecret, G::kNone, P::kNone, true, "<sp> password"},
    Verb{"ACCT", kNeedsArg, G::kNone, P::kNone, true, "<sp> account"},
    Verb{"QUIT", kPreLogin, G::kNone, P::kNone, true, "(quit)"},
    Verb{"NOOP", kNoArg, G::kNone, P::kNone, true, "(no operation)"},
    Verb{"SYST", kPreLogin | kNoArg, G::kNone, P::kNone, true, "(get type of operating system)"},
    Verb{"FEAT", kPreLogin | kNoArg, G::kNone, P::kNone, true, "(list features)"},
    // OPTS UTF8 is allowed before login (the handler refuses the rest with 530).
    Verb{"OPTS", kPreLogin | kNeedsArg, G::kNone, P::kNone, true, "<sp> command [<sp> options]"},
    Verb{"HELP", kPreLogin, G::kNone, P::kNone, true, "[<sp> command]"},
    Verb{"STAT", 0, G::kDirs, P::kStatArgs, true, "[<sp> pathname]"},
    Verb{"PWD", kNoArg, G::kDirs, P::kNone, true, "(return current directory)"},
    Verb{"XPWD", kNoArg, G::kDirs, P::kNone, true, "(return current directory)"},
    Verb{"CWD", 0, G::kDirs, P::kArgOrRoot, true, "[<sp> directory-name]"},
    Verb{"XCWD", 0, G::kDirs, P::kArgOrRoot, true, "[<sp> directory-name]"},
    Verb{"CDUP", kNoArg, G::kDirs, P::kParent, true, "(change to parent directory)"},
    Verb{"XCUP", kNoArg, G::kDirs, P::kParent, true, "(change to parent directory)"},
    Verb{"TYPE", kNeedsArg, G::kNone, P::kNone, true, "<sp> type-code (A, I or L 8)"},
    Verb{"MODE", kNeedsArg, G::kNone, P::kNone, true, "<sp> mode-code (S)"},
    Verb{"STRU", kNeedsArg, G::kNone, P::kNone, true, "<sp> structure-code (F)"},
    Verb{"PASV", kNoArg, G::kNone, P::kNone, false, "(set server in passive mode)"},
    Verb{"EPSV", 0, G::kNone, P::kNone, false, "[<sp> af|ALL]"},
    Verb{"PORT", kNeedsArg, G::kNone, P::kNone, false, "<sp> h1,h2,h3,h4,p1,p2"},
    Verb{"EPRT", kNeedsArg, G::kNone, P::kNone, false, "<sp> |af|addr|port|"},
    Verb{"LIST", kTransfer, G::kDirs, P::kListArgs, true, "[<sp> pathname]"},
    Verb{"NLST", kTransfer, G::kDirs, P::kListArgs, true, "[<sp> pathname]"},
    Verb{"MLSD", kTransfer, G::kDirs, P::kArg, true, "[<sp> pathname]"},
    Verb{"MLST", 0, G::kDirs, P::kArg, true, "[<sp> pathname]"},
    Verb{"SIZE", kNeedsArg, G::kRead, P::kArg, true, "<sp> pathname"},
    Verb{"MDTM", kNeedsArg, G::kDirs, P::kArg, true, "<sp> pathname"},
    Verb{"REST", kNeedsArg, G::kNone, P::kNone, true, "<sp> byte-count"},
    Verb{"RETR", kNeedsArg | kTransfer, G::kRead, P::kArg, true, "<sp> pathname"},
    Verb{"ABOR", kNoArg, G::kNone, P::kNone, true, "(abort operation)"},
    Verb{"ALLO", kNeedsArg, G::kNone, P::kNone, true, "<sp> size"},
    Verb{"AUTH", kPreLogin | kNeedsArg | kNotImpl, G::kNone, P::kNone, true, "<sp> mechanism"},
    Verb{"PBSZ", kPreLogin | kNeedsArg | kNotImpl, G::kNone, P::kNone, true, "<sp> size"},
    Verb{"PROT", kPreLogin | kNeedsArg | kNotImpl, G::kNone, P::kNone, true, "<sp> level"},
    Verb{"CCC", kPreLogin | kNoArg | kNotImpl, G::kNone, P::kNone, true, "(clear command channel)"},
    Verb{"STOR", kWrite | kNeedsArg | kTransfer, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"STOU", kWrite | kTransfer, G::kWrite, P::kNone, true, "(store unique)"},
    Verb{"APPE", kWrite | kNeedsArg | kTransfer, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"DELE", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"MKD", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"XMKD", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"RMD", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"XRMD", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    Verb{"RNFR", kWrite | kNeedsArg, G::kDirs, P::kArg, true, "<sp> pathname"},
    Verb{"RNTO", kWrite | kNeedsArg, G::kWrite, P::kArg, true, "<sp> pathname"},
    // SITE dispatches its own subcommands (below): HELP, and the write ones.
    Verb{"SITE", kNeedsArg, G::kNone, P::kNone, true, "<sp> site-command"},
    Verb{"REIN", kNoArg | kNotImpl, G::kNone, P::kNone, true, "(reinitialize)"},
    Verb{"SMNT", kNeedsArg | kNotImpl, G::kNone, P::kNone, true, "<sp> pathname"},
    // SITE subcommands as ProFTPD's mod_site lists them; <Limit SITE_CHMOD>
    // and WRITE govern them as ProFTPD's core_chmod()/core_chgrp() do.
    Verb{"SITE_HELP", kSiteSub, G::kNone, P::kNone, true, "[<sp> site-command]"},
    Verb{"SITE_CHGRP", kSiteSub | kWrite, G::kWrite, P::kNone, true, "<sp> group <sp> pathname"},
    Verb{"SITE_CHMOD", kSiteSub | kWrite, G::kWrite, P::kNone, true, "<sp> mode <sp> pathname"},
};

// FindVerb runs a few times per command (gate, <Limit> matching): an index
// sorted by the first 8 bytes of each name packed into one integer, so a
// look-up is a binary search over integers plus one string compare.
constexpr uint64_t Key(std::string_view name) {
  uint64_t k = 0;
  for (size_t i = 0; i < 8; ++i)
    k = (k << 8) | (i < name.size() ? static_cast<uint8_t>(name[i]) : 0u);
  return k;
}

struct IndexEntry {
  uint64_t key;
  uint16_t pos;  // into kVerbs
};

constexpr auto kIndex = [] {
  std::array<IndexEntry, kVerbs.size()> index{};
  for (size_t i = 0; i < kVerbs.size(); ++i)
    index[i] = IndexEntry{Key(kVerbs[i].name), static_cast<uint16_t>(i)};
  std::sort(index.begin(), index.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.key < b.key; });
  return index;
}();

}  // namespace

std::span<const Verb> Verbs() { return kVerbs; }

const Verb* FindVerb(std::string_view name) {
  const uint64_t key = Key(name);
  auto it = std::lower_bound(kIndex.begin(), kIndex.end(), key,
                             [](const IndexEntry& e, uint64_t k) { return e.key < k; });
  // Names sharing their first 8 bytes (or differing only by NUL padding)
  // share a key: the name decides.
  for (; it != kIndex.end() && it->key == key; ++it)
    if (kVerbs[it->pos].name == name) return &kVerbs[it->pos];
  return nullptr;
}

VerbGroup GroupNamed(std::string_view name) {
  if (name == "READ") return VerbGroup::kRead;
  if (name == "WRITE") return VerbGroup::kWrite;
  if (name == "DIRS") return VerbGroup::kDirs;
  if (name == "LOGIN") return VerbGroup::kLogin;
  return VerbGroup::kNone;
}

}  // namespace poolftpd::config
