// The immutable server configuration and its loader (ProFTPD syntax).
// Built by the master (at start and on HUP) and by `poolftpd -t`; workers get
// a const reference from the master's fork. Loading does no network I/O and
// never touches listeners or logs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/config/verbs.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/result.h"

namespace poolftpd::config {

enum class ServerType { kStandalone, kInetd };

// One Allow/Deny line: "Allow from 10.0.0.0/8, 192.168.1.".
struct AccessRule {
  bool allow = true;
  bool all = false;   // "from all"
  bool none = false;  // "from none"
  std::vector<net::Cidr> networks;
};

// How a <Limit> names a verb. When several blocks name the same verb, the
// highest rank decides (ProFTPD: raw command > command group > ALL).
enum class LimitMatch { kNone = 0, kAll = 1, kGroup = 2, kDirect = 3 };

// The outcome of one <Limit> for one client, as ProFTPD's check_limit():
// an implicit verdict means no Allow/Deny line applied and lets a block of
// lower rank (or the default, allow) decide; an explicit one is final.
enum class LimitVerdict { kExplicitDeny, kImplicitDeny, kImplicitAllow, kExplicitAllow };

// A <Limit ...> block. `commands` holds upper-case verbs and/or the groups
// READ, WRITE, DIRS, LOGIN, ALL exactly as written; the groups' members are
// those of the verb registry (verbs.h).
struct Limit {
  std::vector<std::string> commands;
  bool allow_all = false;         // AllowAll
  bool deny_all = false;          // DenyAll
  bool order_deny_first = false;  // Order deny,allow (default allow,deny)
  std::vector<AccessRule> rules;  // in file order
  std::string file;
  int line = 0;

  // How this block names `verb` (case-insensitive): directly, through
  // READ/WRITE/DIRS/LOGIN, through ALL, or not at all.
  LimitMatch Match(std::string_view verb) const;
  // The block's verdict for a client at `addr`. Order allow,deny (default):
  // AllowAll or a matching Allow -> kExplicitAllow; else DenyAll or a matching
  // Deny -> kExplicitDeny; else kImplicitAllow. Order deny,allow: deny side
  // first -> kExplicitDeny; then allow side -> kExplicitAllow; else
  // kImplicitDeny. auth treats kImplicitDeny as final and lets kImplicitAllow
  // fall through to the next level (verb -> group -> ALL), as ProFTPD's
  // dir_check_full() does.
  LimitVerdict Evaluate(const net::IpAddress& addr) const;
};

// The contexts of the config tree, innermost last. A lookup merges from the
// nearest context outwards (nginx's location merging): a <Limit> in the
// nearest <Directory> before one in an outer <Directory>, then <Anonymous>,
// then the server. <Global> and <VirtualHost> have their place in the tree
// (a <Global> merges into every server, a <VirtualHost> is a server of its
// own) but the parser refuses them for now ("not supported yet").
enum class ContextKind { kServer, kGlobal, kVirtualHost, kAnonymous, kDirectory, kLimit };

// <Directory PATH> ... </Directory>, at server level or inside <Anonymous>.
// Matching follows ProFTPD (doc/modules/mod_core.html#Directory and
// doc/howto/Directory.html):
//   - PATH is an absolute real path; "~" (or "~/sub") is the session's home
//     (for anonymous sessions the anonymous root), "~user" that user's home;
//     inside <Anonymous> a relative PATH is relative to the anonymous root.
//   - a block applies to its directory and, recursively, to everything in
//     it; a trailing "/*" makes it apply to the contents only, not to the
//     directory itself;
//   - "*" (and "?", "[...]") match within one path component:
//     /srv/*/pub matches /srv/a/pub, not /srv/a/b/pub;
//   - of several matching blocks the closest (most specific) one governs, and
//     <Limit>s of the blocks further out still apply where the closer ones
//     say nothing ("inherited until a closer <Limit> is reached").
struct Directory {
  std::string path;            // as written, for messages
  std::string pattern;         // absolute, tidied, without the trailing "/*";
                               // when `home` is set, the part after "~"
  bool home = false;           // relative to the session's home (server-level "~")
  bool contents_only = false;  // written with a trailing "/*"
  std::vector<Limit> limits;
  std::string file;
  int line = 0;
};

// Whether `d` governs the real path `path` (absolute, normalised), with
// `home` standing for "~". On a match, `*rank` (if given) receives how
// specific the match is: higher is closer.
bool DirectoryMatches(const Directory& d, std::string_view home, std::string_view path,
                      long* rank = nullptr);

// <Anonymous DIR> ... </Anonymous>
struct Anonymous {
  std::string root;               // absolute path after ~user expansion
  std::string user;               // User inside the block: the login name it serves
  std::string group;              // Group inside the block
  std::string user_at, group_at;  // "file:line" of those User/Group lines
  std::string display_login;      // DisplayLogin inside the block, if any
  std::vector<Limit> limits;
  std::vector<Directory> directories;  // relative paths already made absolute
  std::string file;
  int line = 0;
};

struct UserAlias {
  std::string alias;  // what the client types ("anonymous")
  std::string user;   // the account it maps to ("ftp")
};

// One listening socket the config asks for, built by Listeners() and handed
// by the master to every worker (which knows which spec accepted each
// connection). The flags have their place for implicit FTPS and the PROXY
// protocol; nothing sets them yet.
struct ListenerSpec {
  net::Endpoint endpoint;
  bool dual_stack = false;      // [::] accepting IPv4 too
  bool implicit_tls = false;    // TLS from the first byte (port 990 style)
  bool proxy_protocol = false;  // a PROXY header precedes the FTP session
};

struct PortRange {
  uint16_t low = 0;  // 0,0 = let the kernel choose
  uint16_t high = 0;
};

struct Config {
  std::string source_file;  // the top-level file as given to Load()

  std::string server_name = "poolftpd FTP Server";
  bool server_ident_on = true;
  std::string server_ident_text;  // empty: built-in "poolftpd VERSION Server (ServerName) [addr]"
  ServerType server_type = ServerType::kStandalone;
  uint16_t port = 21;
  std::vector<net::IpAddress> default_addresses;  // empty: every address (dual-stack ::)

  std::string pid_file = "/run/poolftpd/poolftpd.pid";
  std::string scoreboard_file = "/run/poolftpd/poolftpd.scoreboard";
  std::string shutdown_file = "/etc/shutmsg";  // ftpshut's file (ProFTPD's place)
  // "file:line" of the PidFile/ScoreboardFile/ShutdownFile lines; empty: the
  // default above (the tools then use their compiled-in defaults).
  std::string pid_file_at, scoreboard_file_at, shutdown_file_at;
  int graceful_stop_timeout = 60;  // QUIT: seconds sessions may take before TERM
  std::string system_log;          // empty: stderr when -n, else syslog
  bool system_log_none = false;    // "SystemLog none": log nothing at all (system_log empty)
  std::string transfer_log;        // empty: no transfer log ("TransferLog none")
  // DebugLevel 0-9; when set it takes precedence over -d (as in ProFTPD).
  std::optional<int> debug_level;

  std::string user;               // server-level User (unprivileged identity for workers)
  std::string group;              // server-level Group
  std::string user_at, group_at;  // "file:line" of those lines; empty: the default
  std::vector<UserAlias> user_aliases;

  int max_clients = 256;
  std::string max_clients_message;           // optional MaxClients text; empty = built-in
  int max_clients_per_host = 0;              // 0 = unlimited ("MaxClientsPerHost none")
  std::string max_clients_per_host_message;  // optional text; empty = built-in
  int max_login_attempts = 3;
  // MaxCommandRate COUNT [SECS]: commands per SECS seconds per session,
  // excess delayed. 0 = none (ProFTPD's default).
  int max_command_rate = 0;
  int max_command_interval = 1;
  int start_servers = 5;
  int min_spare_servers = 5;
  int max_spare_servers = 10;
  int max_sessions_per_worker = 1000;  // 0 = unlimited

  int timeout_login = 300;  // seconds; 0 = never
  int timeout_idle = 600;
  int timeout_no_transfer = 300;
  int timeout_stalled = 3600;

  PortRange passive_ports;
  std::optional<net::IpAddress> masquerade_address;
  std::string display_login;  // server-level DisplayLogin
  bool use_reverse_dns = false;
  bool use_sendfile = true;
  bool seccomp = true;  // workers install the seccomp allowlist (off: debugging only)
  bool allow_foreign_address = false;

  std::vector<Limit> limits;           // server-level <Limit> blocks
  std::vector<Directory> directories;  // server-level <Directory> blocks
  std::optional<Anonymous> anonymous;

  // The anonymous block serving login name `name` after UserAlias mapping,
  // or nullptr.
  const Anonymous* FindAnonymous(std::string_view login_name) const;
  // The account `login_name` maps to through UserAlias (case-sensitive, first
  // match), or `login_name` itself. The view lives as long as both inputs.
  std::string_view ResolveUserAlias(std::string_view login_name) const;
};

// The listeners `cfg` asks for: one dual-stack [::]:Port without
// DefaultAddress, else one per DefaultAddress.
std::vector<ListenerSpec> Listeners(const Config& cfg);

// The contexts that govern one virtual path of one session, nearest first:
// the matching <Directory> blocks (closest first), the <Anonymous> block, the
// server. Built by the session's gate per path command (no allocation: a
// fixed array of pointers into the config).
struct Policy {
  static constexpr size_t kMaxDirectories = 8;  // the closest ones are kept
  std::array<const Directory*, kMaxDirectories> directories{};
  size_t directory_count = 0;
  const Anonymous* anonymous = nullptr;
  const Config* server = nullptr;

  // The governing <Directory> (the closest match), or nullptr.
  const Directory* directory() const { return directory_count ? directories[0] : nullptr; }
  // SECURITY (S6): anonymous sessions are read-only whatever the file modes say;
  // the per-directory upload rules plug in here.
  bool read_only() const { return anonymous != nullptr; }
};

// The policy for virtual path `vpath` (normalised, absolute) of a session
// under `anon` (may be null) whose root is the real directory `home`
// ("/" without chroot). `scratch` is reused to build the real path.
Policy FindPolicy(const Config& cfg, const Anonymous* anon, std::string_view home,
                  std::string_view vpath, std::string* scratch);
// The policy without a path: the <Anonymous> block and the server.
Policy BasePolicy(const Config& cfg, const Anonymous* anon);

// Loads `path`, following Include, with `defines` for <IfDefine>. Errors are
// kInvalid with context "file:line: reason" (or "file: reason" when the file
// itself cannot be read). On an error, `partial` (if given) receives what the
// directives before it set: ftpdctl reload needs the PidFile of a config the
// server is about to refuse too.
Result<std::shared_ptr<const Config>> Load(const std::string& path,
                                           const std::vector<std::string>& defines,
                                           Config* partial = nullptr);

// As Load(), for configuration text already in memory (tests, stdin).
// `name` is used in error messages, and relative Include paths are resolved
// against its directory (the current directory when it has none).
Result<std::shared_ptr<const Config>> LoadFromString(std::string_view text, const std::string& name,
                                                     const std::vector<std::string>& defines);

}  // namespace poolftpd::config
