// The verb registry: every FTP verb the server knows, with its dispatch flags,
// its ProFTPD <Limit> group and its HELP text. The one list the config
// (<Limit> groups), auth (<Limit> verdicts) and protocol (the gate and HELP)
// read; protocol's command table only maps a verb to its handler.
// A constant table: no allocation, usable from any process.
#pragma once

#include <span>
#include <string_view>

namespace poolftpd::config {

enum VerbFlags : unsigned {
  kPreLogin = 1u << 0,  // allowed before login
  kNeedsArg = 1u << 1,  // 501 without an argument
  kNoArg = 1u << 2,     // 501 with an argument (HELP excepted: see the gate)
  kSecret = 1u << 3,    // argument never logged nor shown (PASS)
  kWrite = 1u << 4,     // modifies the tree: refused where the policy is read-only
  kNotImpl = 1u << 5,   // recognised but answers 502: starred in HELP
  kSiteSub = 1u << 6,   // a SITE subcommand (SITE_CHMOD): no verb of its own
  kTransfer = 1u << 7,  // consumes REST / opens a data connection
};

// How the gate finds the virtual path a verb acts on.
enum class PathArg {
  kNone,       // not a path command
  kArg,        // the argument (empty: the current directory)
  kArgOrRoot,  // the argument (empty: "/"): CWD, XCWD
  kParent,     // ".." of the current directory: CDUP, XCUP
  kListArgs,   // the argument after ls-style options (LIST, NLST)
  kStatArgs,   // as kListArgs, but only when there is an argument (STAT)
};

// ProFTPD's command groups (doc/howto/Limit.html):
//   READ   RETR SIZE
//   WRITE  APPE DELE MKD RMD RNTO STOR STOU XMKD XRMD SITE_CHMOD SITE_CHGRP
//   DIRS   CDUP CWD LIST MDTM MLSD MLST NLST PWD RNFR STAT XCUP XCWD XPWD
//   LOGIN  the login itself (pseudo-verb "LOGIN")
//   ALL    every verb except LOGIN and the data-connection set-up commands
//          (EPRT EPSV PASV PORT), as ProFTPD's dir_check_full() leaves them out
// Membership is by group; kWrite is separate: RNFR is in DIRS but modifies
// the tree.
enum class VerbGroup { kNone, kRead, kWrite, kDirs, kLogin };

struct Verb {
  std::string_view name;  // upper case; SITE subcommands as "SITE_CHMOD"
  unsigned flags;         // VerbFlags
  VerbGroup group;
  PathArg path;
  bool in_all;            // covered by <Limit ALL>
  std::string_view help;  // HELP syntax text after the verb
};

// Every registered verb, in HELP order.
std::span<const Verb> Verbs();
// The entry for `name` (upper case, exact), or nullptr.
const Verb* FindVerb(std::string_view name);
// The group named `name` (upper case: READ, WRITE, DIRS, LOGIN), or kNone.
VerbGroup GroupNamed(std::string_view name);

}  // namespace poolftpd::config
