// Helpers shared by the files that define Session's member functions
// (session.cc, dispatch.cc, login.cc, commands.cc, data_setup.cc,
// transfer.cc, listing.cc). Private to src/protocol.
#pragma once

#include <string>
#include <string_view>

#include "poolftpd/config/config.h"
#include "poolftpd/config/verbs.h"
#include "poolftpd/fs/listing.h"

namespace poolftpd::protocol {

// The registry entry of a verb the client may send (SITE subcommands are
// reached through SITE only), or nullptr.
const config::Verb* FindClientVerb(std::string_view verb);

// A path (or a client's argument) in reply text: the control-connection
// encoding of names, so no path can add a reply line.
inline std::string PathText(std::string_view path) {
  return fs::EncodeName(path, fs::NameCoding::kControl);
}

// How long a client may take to open a data connection (passive: to
// connect after the 150; active: our connect to it), and how long a PASV/EPSV
// listener no transfer command used stays open: TimeoutStalled, the bound
// ProFTPD puts on opening the data connection, but at most 30 s (the default
// TimeoutStalled of an hour would hold a passive port that long).
int DataConnectTimeoutMs(const config::Config& cfg);

// Debug level 5, in ProFTPD's shape ("dispatching CMD command 'PASS
// (hidden)'"), `when` appended. SECURITY (S2): the argument of a kSecret command
// never reaches the log, nor does a line that merely starts like PASS
// ("PASS\tsecret" and "PASSsecret" are 500s, but still passwords); client
// bytes are escaped.
[[gnu::cold, gnu::noinline]] void DebugCommand(std::string_view line, std::string_view when);

}  // namespace poolftpd::protocol
