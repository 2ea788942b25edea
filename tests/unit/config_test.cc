// Unit tests for the config module: lexer rules, blocks, Include, IfDefine,
// every directive's good and bad values, exact "file:line: reason" errors,
// <Limit> semantics and FindAnonymous. Uses real files in a temp directory.

#include "poolftpd/config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../src/config/directives.h"
#include "poolftpd/config/environment.h"
#include "poolftpd/config/verbs.h"
#include "poolftpd/util/limits.h"

namespace poolftpd::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/poolftpd-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to dir_/name (creating folders) and returns the full path.
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = fs::path(dir_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p.string();
  }

  std::string Path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  Result<std::shared_ptr<const Config>> LoadText(const std::string& text,
                                                 const std::vector<std::string>& defines = {}) {
    return Load(Write("main.conf", text), defines);
  }

  // Loads `text` as main.conf and returns the error context ("" on success).
  std::string ErrorOf(const std::string& text, const std::vector<std::string>& defines = {}) {
    auto r = LoadText(text, defines);
    if (r) return "";
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
    EXPECT_EQ(r.error().sys_errno(), 0);
    EXPECT_EQ(r.error().message(), r.error().context());
    return r.error().context();
  }

  // "DIR/main.conf:LINE: reason"
  std::string At(int line, const std::string& reason, const std::string& file = "main.conf") {
    return Path(file) + ":" + std::to_string(line) + ": " + reason;
  }

  std::shared_ptr<const Config> MustLoad(const std::string& text,
                                         const std::vector<std::string>& defines = {}) {
    auto r = LoadText(text, defines);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    if (!r) return std::make_shared<Config>();
    return *r;
  }

  std::string dir_;
};

net::IpAddress Ip(const char* s) {
  auto a = net::IpAddress::Parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(net::IpAddress{});
}

// --- whole configs ---------------------------------------------------------

TEST_F(ConfigTest, EmptyFileGivesDefaults) {
  auto c = MustLoad("");
  const Config d;
  EXPECT_EQ(c->source_file, Path("main.conf"));
  EXPECT_EQ(c->server_name, d.server_name);
  EXPECT_TRUE(c->server_ident_on);
  EXPECT_EQ(c->server_type, ServerType::kStandalone);
  EXPECT_EQ(c->port, 21);
  EXPECT_TRUE(c->default_addresses.empty());
  EXPECT_EQ(c->pid_file, d.pid_file);
  EXPECT_EQ(c->scoreboard_file, d.scoreboard_file);
  EXPECT_EQ(c->max_clients, 256);
  EXPECT_EQ(c->min_spare_servers, 5);
  EXPECT_EQ(c->max_spare_servers, 10);
  EXPECT_EQ(c->start_servers, 5);
  EXPECT_EQ(c->max_sessions_per_worker, 1000);
  EXPECT_EQ(c->timeout_idle, 600);
  EXPECT_EQ(c->passive_ports.low, 0);
  EXPECT_FALSE(c->masquerade_address.has_value());
  EXPECT_TRUE(c->use_sendfile);
  EXPECT_TRUE(c->seccomp);
  EXPECT_FALSE(c->anonymous.has_value());
  EXPECT_TRUE(c->limits.empty());
}

TEST_F(ConfigTest, FullGoodConfig) {
  auto c = MustLoad(R"(# A full configuration.
ServerName "Test Mirror"
ServerIdent on "Hello there"
ServerType inetd
Port 2121
DefaultAddress 127.0.0.1 ::1
PidFile /tmp/p.pid
ScoreboardFile /tmp/p.sb
SystemLog /tmp/sys.log
TransferLog /tmp/xfer.log
User nobody
Group nogroup
UserAlias anonymous ftp
MaxClients 50 "Too many users"
MaxClientsPerHost 3 "Too many from you"
MaxLoginAttempts 5
StartServers 4
MinSpareServers 2
MaxSpareServers 8
MaxSessionsPerWorker 0
TimeoutLogin 30
TimeoutIdle 60
TimeoutNoTransfer 90
TimeoutStalled 0
PassivePorts 50000 50100
MasqueradeAddress 203.0.113.5
DisplayLogin /etc/motd
UseReverseDNS on
UseSendfile off
AllowForeignAddress yes
<Limit LOGIN>
  DenyAll
</Limit>
<Anonymous /srv/ftp/>
  User ftp
  Group ftpgroup
  UserAlias guest ftp
  DisplayLogin welcome.msg
  <Limit WRITE>
    DenyAll
  </Limit>
  <Limit LOGIN>
    AllowAll
  </Limit>
</Anonymous>
)");
  EXPECT_EQ(c->server_name, "Test Mirror");
  EXPECT_TRUE(c->server_ident_on);
  EXPECT_EQ(c->server_ident_text, "Hello there");
  EXPECT_EQ(c->server_type, ServerType::kInetd);
  EXPECT_EQ(c->port, 2121);
  ASSERT_EQ(c->default_addresses.size(), 2u);
  EXPECT_EQ(c->default_addresses[0], Ip("127.0.0.1"));
  EXPECT_EQ(c->default_addresses[1], Ip("::1"));
  EXPECT_EQ(c->pid_file, "/tmp/p.pid");
  EXPECT_EQ(c->scoreboard_file, "/tmp/p.sb");
  EXPECT_EQ(c->system_log, "/tmp/sys.log");
  EXPECT_FALSE(c->system_log_none);
  EXPECT_EQ(c->transfer_log, "/tmp/xfer.log");
  EXPECT_EQ(c->user, "nobody");
  EXPECT_EQ(c->group, "nogroup");
  ASSERT_EQ(c->user_aliases.size(), 2u);
  EXPECT_EQ(c->user_aliases[0].alias, "anonymous");
  EXPECT_EQ(c->user_aliases[0].user, "ftp");
  EXPECT_EQ(c->user_aliases[1].alias, "guest");
  EXPECT_EQ(c->max_clients, 50);
  EXPECT_EQ(c->max_clients_message, "Too many users");
  EXPECT_EQ(c->max_clients_per_host, 3);
  EXPECT_EQ(c->max_clients_per_host_message, "Too many from you");
  EXPECT_EQ(c->max_login_attempts, 5);
  EXPECT_EQ(c->start_servers, 4);
  EXPECT_EQ(c->min_spare_servers, 2);
  EXPECT_EQ(c->max_spare_servers, 8);
  EXPECT_EQ(c->max_sessions_per_worker, 0);
  EXPECT_EQ(c->timeout_login, 30);
  EXPECT_EQ(c->timeout_idle, 60);
  EXPECT_EQ(c->timeout_no_transfer, 90);
  EXPECT_EQ(c->timeout_stalled, 0);
  EXPECT_EQ(c->passive_ports.low, 50000);
  EXPECT_EQ(c->passive_ports.high, 50100);
  ASSERT_TRUE(c->masquerade_address.has_value());
  EXPECT_EQ(*c->masquerade_address, Ip("203.0.113.5"));
  EXPECT_EQ(c->display_login, "/etc/motd");
  EXPECT_TRUE(c->use_reverse_dns);
  EXPECT_FALSE(c->use_sendfile);
  EXPECT_TRUE(c->allow_foreign_address);

  ASSERT_EQ(c->limits.size(), 1u);
  EXPECT_EQ(c->limits[0].commands, std::vector<std::string>{"LOGIN"});
  EXPECT_TRUE(c->limits[0].deny_all);
  EXPECT_EQ(c->limits[0].file, Path("main.conf"));
  EXPECT_EQ(c->limits[0].line, 31);

  ASSERT_TRUE(c->anonymous.has_value());
  const Anonymous& a = *c->anonymous;
  EXPECT_EQ(a.root, "/srv/ftp");
  EXPECT_EQ(a.user, "ftp");
  EXPECT_EQ(a.group, "ftpgroup");
  EXPECT_EQ(a.display_login, "welcome.msg");
  EXPECT_EQ(a.file, Path("main.conf"));
  EXPECT_EQ(a.line, 34);
  ASSERT_EQ(a.limits.size(), 2u);
  EXPECT_EQ(a.limits[0].commands, std::vector<std::string>{"WRITE"});
  EXPECT_TRUE(a.limits[0].deny_all);
  EXPECT_EQ(a.limits[0].line, 39);
  EXPECT_TRUE(a.limits[1].allow_all);
}

TEST_F(ConfigTest, SampleConfigParses) {
  // The test runs from the repository root (make) or from build/tests.
  std::string sample;
  for (const char* p : {"conf/poolftpd.conf", "../conf/poolftpd.conf", "../../conf/poolftpd.conf"})
    if (fs::exists(p)) {
      sample = p;
      break;
    }
  ASSERT_FALSE(sample.empty()) << "conf/poolftpd.conf not found from " << fs::current_path();

  for (const std::vector<std::string>& defines :
       {std::vector<std::string>{}, std::vector<std::string>{"MULTIHOMED", "NAT", "BANNER"}}) {
    auto r = Load(sample, defines);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    const Config& c = **r;
    ASSERT_TRUE(c.anonymous.has_value());
    EXPECT_EQ(c.anonymous->root, "/srv/ftp");
    EXPECT_EQ(c.FindAnonymous("anonymous"), &*c.anonymous);
    EXPECT_EQ(c.FindAnonymous("ftp"), &*c.anonymous);
    EXPECT_EQ(c.FindAnonymous("root"), nullptr);
    // Read-only: every WRITE verb is denied inside the anonymous block.
    bool write_denied = false;
    for (const auto& l : c.anonymous->limits)
      if (l.Match("STOR") != LimitMatch::kNone &&
          (l.Evaluate(Ip("192.0.2.55")) == LimitVerdict::kExplicitDeny ||
           l.Evaluate(Ip("192.0.2.55")) == LimitVerdict::kImplicitDeny))
        write_denied = true;
    EXPECT_TRUE(write_denied);
    EXPECT_EQ(c.default_addresses.size(), defines.empty() ? 0u : 2u);
    EXPECT_EQ(c.masquerade_address.has_value(), !defines.empty());
  }

  // Every directive of the table is shown (and explained) in the sample.
  std::ifstream in(sample);
  std::stringstream text;
  text << in.rdbuf();
  const std::string body = text.str();
  for (const auto& d : internal::AllDirectives()) {
    const std::string name(d.name);
    const bool found = body.find("\n" + name + " ") != std::string::npos ||
                       body.find(" " + name + " ") != std::string::npos ||
                       body.find("\n" + name + "\n") != std::string::npos ||
                       body.find(" " + name + "\n") != std::string::npos;
    EXPECT_TRUE(found) << name << " is missing from " << sample;
  }
}

TEST_F(ConfigTest, LoadFromStringResolvesIncludesAgainstItsName) {
  Write("inc/extra.conf", "Port 2222\n");
  auto r = LoadFromString("Include inc/extra.conf\nServerName x\n", Path("virtual.conf"), {});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ((*r)->port, 2222);
  EXPECT_EQ((*r)->source_file, Path("virtual.conf"));

  auto bad = LoadFromString("Port 1\nPort x\n", "text", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().context(), "text:2: Port: \"x\" is not a number");
}

// --- files ---------------------------------------------------------------

TEST_F(ConfigTest, MissingTopLevelFile) {
  auto r = Load(Path("nope.conf"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(r.error().context(), Path("nope.conf") + ": No such file or directory");
}

TEST_F(ConfigTest, DirectoryAsTopLevelFile) {
  auto r = Load(dir_, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context(), dir_ + ": Is a directory");
}

TEST_F(ConfigTest, FileTooLarge) {
  std::string big(limits::kMaxConfigFileSize + 1, '#');
  const std::string path = Write("big.conf", big);
  auto r = Load(path, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().context(), path + ": file is larger than 4194304 bytes");

  // Exactly at the limit is fine (one long comment line).
  std::string ok(limits::kMaxConfigFileSize, '#');
  EXPECT_TRUE(Load(Write("ok.conf", ok), {}).has_value());
}

TEST_F(ConfigTest, NulByteIsAnError) {
  EXPECT_EQ(ErrorOf(std::string("Port 21\nServerName a\0b\n", 23)),
            At(2, "NUL byte in configuration file"));
}

// --- lexer ---------------------------------------------------------------

TEST_F(ConfigTest, QuotingAndEscapes) {
  auto c = MustLoad(R"(ServerName "My \"quoted\" server \\ with \n kept"
ServerIdent on "")");
  EXPECT_EQ(c->server_name, R"(My "quoted" server \ with \n kept)");
  EXPECT_TRUE(c->server_ident_text.empty());

  c = MustLoad("ServerName \"a b\"c\n");  // quoted and bare parts join
  EXPECT_EQ(c->server_name, "a bc");

  EXPECT_EQ(ErrorOf("Port 21\nServerName \"unterminated\n"), At(2, "unterminated quoted string"));
  EXPECT_EQ(ErrorOf("ServerName My Server\n"), At(1, "ServerName: expected 1 argument, got 2"));
}

TEST_F(ConfigTest, Comments) {
  auto c = MustLoad(R"(# whole line
   # indented comment line
Port 2121 # trailing comment
ServerName foo#bar
ServerIdent on "#not a comment" # but this is
MaxClients 10 #"quoted in comment"

)");
  EXPECT_EQ(c->port, 2121);
  EXPECT_EQ(c->server_name, "foo#bar");
  EXPECT_EQ(c->server_ident_text, "#not a comment");
  EXPECT_EQ(c->max_clients, 10);
  EXPECT_TRUE(c->max_clients_message.empty());
}

TEST_F(ConfigTest, ContinuationLines) {
  auto c = MustLoad("DefaultAddress 127.0.0.1 \\\n    ::1 \\\n  127.0.0.2\nPort 2121\n");
  ASSERT_EQ(c->default_addresses.size(), 3u);
  EXPECT_EQ(c->default_addresses[2], Ip("127.0.0.2"));
  EXPECT_EQ(c->port, 2121);

  // Joined as written: no blank is inserted.
  c = MustLoad("ServerName abc\\\ndef\n");
  EXPECT_EQ(c->server_name, "abcdef");

  // A comment line never continues, even if it ends in a backslash.
  c = MustLoad("# comment \\\nPort 2121\n");
  EXPECT_EQ(c->port, 2121);

  // Errors name the first line of the directive, and later lines keep their numbers.
  EXPECT_EQ(ErrorOf("Port 21\nMaxClients \\\n  abc\n"),
            At(2, "MaxClients: \"abc\" is not a number"));
  EXPECT_EQ(ErrorOf("ServerName a \\\n  b \\\n  c\nPort x\n"),
            At(1, "ServerName: expected 1 argument, got 3"));
  EXPECT_EQ(ErrorOf("DefaultAddress ::1 \\\n  ::2\nPort x\n"),
            At(3, "Port: \"x\" is not a number"));
  // Continuation at end of file.
  c = MustLoad("Port 2121 \\");
  EXPECT_EQ(c->port, 2121);
}

TEST_F(ConfigTest, CrLfLineEndings) {
  auto c = MustLoad("Port 2121\r\nServerName \"x y\"\r\nDefaultAddress ::1 \\\r\n ::2\r\n");
  EXPECT_EQ(c->port, 2121);
  EXPECT_EQ(c->server_name, "x y");
  EXPECT_EQ(c->default_addresses.size(), 2u);
}

TEST_F(ConfigTest, DirectiveNamesAreCaseInsensitive) {
  auto c = MustLoad("port 2121\nMAXCLIENTS 7\n<limit read>\ndenyall\n</LIMIT>\n");
  EXPECT_EQ(c->port, 2121);
  EXPECT_EQ(c->max_clients, 7);
  ASSERT_EQ(c->limits.size(), 1u);
  EXPECT_EQ(c->limits[0].commands, std::vector<std::string>{"READ"});
}

// --- directives: values --------------------------------------------------

struct BadCase {
  const char* line;
  const char* reason;
};

TEST_F(ConfigTest, BadValues) {
  const BadCase cases[] = {
      {"Port 70000", "Port: 70000 is out of range (1-65535)"},
      {"Port 0", "Port 0 is not supported"},
      {"Port -1", "Port: -1 is out of range (1-65535)"},
      {"Port 21x", "Port: \"21x\" is not a number"},
      {"Port +21", "Port: \"+21\" is not a number"},
      {"Port \"\"", "Port: \"\" is not a number"},
      {"Port 99999999999999999999999", "Port: 99999999999999999999999 is out of range (1-65535)"},
      {"ServerIdent maybe", "ServerIdent: \"maybe\" is not a boolean (on|off)"},
      {"ServerType forking", "ServerType: \"forking\" is not standalone or inetd"},
      {"DefaultAddress 1.2.3", "DefaultAddress: \"1.2.3\" is not a valid IP address"},
      {"DefaultAddress ftp.example.com",
       "DefaultAddress: \"ftp.example.com\": hostnames are not supported, use an IP address"},
      {"DefaultAddress ::1 ::1", "DefaultAddress: \"::1\" is listed twice"},
      {"PidFile run/p.pid", "PidFile: \"run/p.pid\" is not an absolute path"},
      {"ScoreboardFile sb", "ScoreboardFile: \"sb\" is not an absolute path"},
      {"SystemLog log.txt", "SystemLog: \"log.txt\" is not an absolute path"},
      {"TransferLog xfer", "TransferLog: \"xfer\" is not an absolute path"},
      {"User \"\"", "User: \"\" is not a valid name"},
      {"Group \"a b\"", "Group: \"a b\" is not a valid name"},
      {"UserAlias anonymous \"f:tp\"", "UserAlias: \"f:tp\" is not a valid name"},
      {"MaxClients abc", "MaxClients: \"abc\" is not a number"},
      {"MaxClients 0", "MaxClients: 0 is out of range (1-100000)"},
      {"MaxClients none", "MaxClients: \"none\" is not a number"},
      {"MaxClientsPerHost -3", "MaxClientsPerHost: -3 is out of range (0-100000)"},
      {"MaxLoginAttempts 0", "MaxLoginAttempts: 0 is out of range (1-1000)"},
      {"StartServers 100001", "StartServers: 100001 is out of range (0-100000)"},
      {"MinSpareServers 0", "MinSpareServers: 0 is out of range (1-100000)"},
      {"MaxSpareServers x", "MaxSpareServers: \"x\" is not a number"},
      {"MaxSessionsPerWorker -1", "MaxSessionsPerWorker: -1 is out of range (0-1000000000)"},
      {"TimeoutLogin 604801", "TimeoutLogin: 604801 is out of range (0-604800)"},
      {"TimeoutIdle 1.5", "TimeoutIdle: \"1.5\" is not a number"},
      {"TimeoutNoTransfer -1", "TimeoutNoTransfer: -1 is out of range (0-604800)"},
      {"TimeoutStalled 1e3", "TimeoutStalled: \"1e3\" is not a number"},
      {"PassivePorts 1023 2000", "PassivePorts: 1023 is out of range (1024-65535)"},
      {"PassivePorts 2000 65536", "PassivePorts: 65536 is out of range (1024-65535)"},
      {"PassivePorts 3000 2000", "PassivePorts: low port 3000 is greater than high port 2000"},
      {"MasqueradeAddress nat.example.com",
       "MasqueradeAddress: \"nat.example.com\": hostnames are not supported, use an IP address"},
      {"MasqueradeAddress 0.0.0.0", "MasqueradeAddress: \"0.0.0.0\" is the unspecified address"},
      {"MasqueradeAddress 300.1.1.1", "MasqueradeAddress: \"300.1.1.1\" is not a valid IP address"},
      {"DisplayLogin \"\"", "DisplayLogin: the path is empty"},
      {"UseReverseDNS 2", "UseReverseDNS: \"2\" is not a boolean (on|off)"},
      {"UseSendfile enabled", "UseSendfile: \"enabled\" is not a boolean (on|off)"},
      {"Seccomp maybe", "Seccomp: \"maybe\" is not a boolean (on|off)"},
      {"Seccomp on off", "Seccomp: expected 1 argument, got 2"},
      {"AllowForeignAddress nope", "AllowForeignAddress: \"nope\" is not a boolean (on|off)"},
      {"DebugLevel 10", "DebugLevel: 10 is out of range (0-9)"},
      {"DebugLevel -1", "DebugLevel: -1 is out of range (0-9)"},
      {"DebugLevel high", "DebugLevel: \"high\" is not a number"},
      {"DebugLevel 5.0", "DebugLevel: \"5.0\" is not a number"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(ErrorOf(std::string("# header\n") + c.line + "\n"), At(2, c.reason)) << c.line;
}

TEST_F(ConfigTest, ArgumentCounts) {
  const BadCase cases[] = {
      {"Port", "Port: expected 1 argument, got 0"},
      {"Port 21 22", "Port: expected 1 argument, got 2"},
      {"ServerIdent", "ServerIdent: expected 1 to 2 arguments, got 0"},
      {"ServerIdent on a b", "ServerIdent: expected 1 to 2 arguments, got 3"},
      {"DefaultAddress", "DefaultAddress: expected at least 1 argument, got 0"},
      {"PassivePorts 5000", "PassivePorts: expected 2 arguments, got 1"},
      {"UserAlias anonymous", "UserAlias: expected 2 arguments, got 1"},
      {"MaxClients 5 \"msg\" extra", "MaxClients: expected 1 to 2 arguments, got 3"},
      {"Include", "Include: expected 1 argument, got 0"},
      {"Include a b", "Include: expected 1 argument, got 2"},
      {"DebugLevel", "DebugLevel: expected 1 argument, got 0"},
      {"DebugLevel 5 7", "DebugLevel: expected 1 argument, got 2"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(ErrorOf(std::string(c.line) + "\n"), At(1, c.reason)) << c.line;

  EXPECT_EQ(ErrorOf("<Limit READ>\nAllowAll yes\n</Limit>\n"),
            At(2, "AllowAll: expected no arguments, got 1"));
  EXPECT_EQ(ErrorOf("<Limit READ>\nDenyAll x\n</Limit>\n"),
            At(2, "DenyAll: expected no arguments, got 1"));
  EXPECT_EQ(ErrorOf("<Limit READ>\nAllow\n</Limit>\n"),
            At(2, "Allow: expected at least 1 argument, got 0"));
  EXPECT_EQ(ErrorOf("<Limit READ>\nOrder\n</Limit>\n"),
            At(2, "Order: expected 1 to 3 arguments, got 0"));
}

TEST_F(ConfigTest, DebugLevel) {
  EXPECT_FALSE(MustLoad("")->debug_level.has_value()) << "unset: -d decides";
  EXPECT_EQ(MustLoad("DebugLevel 0\n")->debug_level, 0);
  EXPECT_EQ(MustLoad("debuglevel 9\n")->debug_level, 9);
  EXPECT_EQ(MustLoad("DebugLevel 3\nDebugLevel 7\n")->debug_level, 7) << "the last one wins";
  EXPECT_EQ(ErrorOf("<Anonymous /srv/ftp>\n  DebugLevel 5\n</Anonymous>\n"),
            At(2, "directive \"DebugLevel\" is not allowed inside <Anonymous>"));
  EXPECT_EQ(ErrorOf("Port 2121\n\nDebugLevel 12\n"), At(3, "DebugLevel: 12 is out of range (0-9)"));
}

TEST_F(ConfigTest, MaxCommandRate) {
  auto c = MustLoad("");
  EXPECT_EQ(c->max_command_rate, 0) << "off by default, as in ProFTPD";
  EXPECT_EQ(c->max_command_interval, 1);
  c = MustLoad("MaxCommandRate 200\n");
  EXPECT_EQ(c->max_command_rate, 200);
  EXPECT_EQ(c->max_command_interval, 1) << "the interval defaults to one second";
  c = MustLoad("MaxCommandRate 500 2\n");
  EXPECT_EQ(c->max_command_rate, 500);
  EXPECT_EQ(c->max_command_interval, 2);
  c = MustLoad("MaxCommandRate 500 2\nMaxCommandRate none\n");
  EXPECT_EQ(c->max_command_rate, 0);
  EXPECT_EQ(c->max_command_interval, 1);
  EXPECT_EQ(MustLoad("MaxCommandRate 0\n")->max_command_rate, 0);
  EXPECT_EQ(MustLoad("maxcommandrate 1000000 86400\n")->max_command_rate, 1000000);

  const BadCase cases[] = {
      {"MaxCommandRate", "MaxCommandRate: expected 1 to 2 arguments, got 0"},
      {"MaxCommandRate 1 2 3", "MaxCommandRate: expected 1 to 2 arguments, got 3"},
      {"MaxCommandRate fast", "MaxCommandRate: \"fast\" is not a number"},
      {"MaxCommandRate -5", "MaxCommandRate: -5 is out of range (1-1000000)"},
      {"MaxCommandRate 1000001", "MaxCommandRate: 1000001 is out of range (1-1000000)"},
      {"MaxCommandRate 200 0", "MaxCommandRate: 0 is out of range (1-86400)"},
      {"MaxCommandRate 200 86401", "MaxCommandRate: 86401 is out of range (1-86400)"},
      {"MaxCommandRate 200 1s", "MaxCommandRate: \"1s\" is not a number"},
      {"MaxCommandRate none 5", "MaxCommandRate: \"none\" takes no interval"},
  };
  for (const auto& bad : cases)
    EXPECT_EQ(ErrorOf(std::string("# rate\n") + bad.line + "\n"), At(2, bad.reason)) << bad.line;
  EXPECT_EQ(ErrorOf("<Anonymous /srv/ftp>\nUser ftp\nGroup ftp\nMaxCommandRate 5\n</Anonymous>\n")
                .find(At(4, "")),
            0u)
      << "server context only";
}

TEST_F(ConfigTest, BooleansAcceptAllSpellings) {
  for (const char* t : {"on", "ON", "yes", "Yes", "true", "TRUE", "1"})
    EXPECT_TRUE(MustLoad(std::string("UseSendfile off\nUseSendfile ") + t + "\n")->use_sendfile)
        << t;
  for (const char* f : {"off", "Off", "no", "NO", "false", "False", "0"})
    EXPECT_FALSE(MustLoad(std::string("UseSendfile ") + f + "\n")->use_sendfile) << f;
}

TEST_F(ConfigTest, SeccompOnOff) {
  EXPECT_FALSE(MustLoad("Seccomp off\n")->seccomp);
  EXPECT_TRUE(MustLoad("Seccomp off\nSeccomp on\n")->seccomp);
}

TEST_F(ConfigTest, GoodValueEdges) {
  auto c = MustLoad(
      "Port 65535\nMaxClientsPerHost none \"go away\"\nSystemLog NONE\nTransferLog none\n"
      "ServerIdent off\nServerType STANDALONE\nPassivePorts 1024 1024\n"
      "DefaultAddress 0.0.0.0 [2001:db8::1]\nMasqueradeAddress 2001:db8::2\n"
      "TimeoutLogin 604800\nMaxClients 100000\nMaxSpareServers 100000\nStartServers 0\n");
  EXPECT_EQ(c->port, 65535);
  EXPECT_EQ(c->max_clients_per_host, 0);
  EXPECT_EQ(c->max_clients_per_host_message, "go away");
  EXPECT_TRUE(c->system_log.empty());
  EXPECT_TRUE(c->system_log_none);
  EXPECT_TRUE(c->transfer_log.empty());
  EXPECT_FALSE(c->server_ident_on);
  EXPECT_EQ(c->server_type, ServerType::kStandalone);
  EXPECT_EQ(c->passive_ports.low, 1024);
  EXPECT_EQ(c->passive_ports.high, 1024);
  ASSERT_EQ(c->default_addresses.size(), 2u);
  EXPECT_TRUE(c->default_addresses[0].is_unspecified());
  EXPECT_EQ(c->default_addresses[1], Ip("2001:db8::1"));
  EXPECT_EQ(*c->masquerade_address, Ip("2001:db8::2"));
  EXPECT_EQ(c->timeout_login, 604800);
  EXPECT_EQ(c->max_clients, 100000);
  EXPECT_EQ(c->start_servers, 0);

  // Later directives override earlier ones; a later MaxClients without a
  // message clears the earlier message.
  c = MustLoad("Port 1000\nPort 2000\nMaxClients 5 \"full\"\nMaxClients 6\n");
  EXPECT_EQ(c->port, 2000);
  EXPECT_EQ(c->max_clients, 6);
  EXPECT_TRUE(c->max_clients_message.empty());
}

TEST_F(ConfigTest, UserAliasDuplicates) {
  EXPECT_EQ(ErrorOf("UserAlias anonymous ftp\nUserAlias anonymous other\n"),
            At(2, "UserAlias: alias \"anonymous\" is already defined"));
}

TEST_F(ConfigTest, UnknownDirective) {
  EXPECT_EQ(ErrorOf("Port 21\nMaxClient 5\n"), At(2, "unknown directive \"MaxClient\""));
  // <Directory> is a block of its own (DirectoryErrors); <Files> is not known.
  EXPECT_EQ(ErrorOf("<Files /srv>\n</Files>\n"), At(1, "unknown directive \"<Files>\""));
}

// --- cross-checks -------------------------------------------------------

TEST_F(ConfigTest, CrossChecks) {
  EXPECT_EQ(ErrorOf("MinSpareServers 8\nMaxSpareServers 4\n"),
            At(2, "MinSpareServers (8) must not exceed MaxSpareServers (4)"));
  EXPECT_EQ(ErrorOf("MaxSpareServers 4\nPort 21\nMinSpareServers 8\n"),
            At(3, "MinSpareServers (8) must not exceed MaxSpareServers (4)"));
  // Against a default: the directive that was set is named.
  EXPECT_EQ(ErrorOf("# x\nMaxSpareServers 2\n"),
            At(2, "MinSpareServers (5) must not exceed MaxSpareServers (2)"));
  EXPECT_EQ(ErrorOf("StartServers 20\nMaxClients 5\nMaxSpareServers 10\n"),
            At(3, "StartServers (20) must not exceed MaxClients + MaxSpareServers (15)"));
  EXPECT_EQ(ErrorOf("MaxClients 1\nMinSpareServers 1\nMaxSpareServers 1\nStartServers 3\n"),
            At(4, "StartServers (3) must not exceed MaxClients + MaxSpareServers (2)"));
  // The boundary is fine.
  EXPECT_EQ(ErrorOf("MaxClients 1\nMinSpareServers 1\nMaxSpareServers 1\nStartServers 2\n"), "");
  // Cross-check errors point into the included file that set the value.
  Write("pool.conf", "# pool\nMaxSpareServers 3\n");
  EXPECT_EQ(ErrorOf("MinSpareServers 4\nInclude pool.conf\n"),
            At(2, "MinSpareServers (4) must not exceed MaxSpareServers (3)", "pool.conf"));
}

// --- Include --------------------------------------------------------------

TEST_F(ConfigTest, IncludeGlobInSortedOrder) {
  Write("conf.d/20-b.conf", "Port 2000\nUserAlias b ftp\n");
  Write("conf.d/10-a.conf", "Port 1000\nUserAlias a ftp\n");
  Write("conf.d/30-c.txt", "this is not config\n");
  Write("conf.d/sub.conf/inner.conf", "Port 3000\n");  // a directory matching *.conf
  auto c = MustLoad("Include conf.d/*.conf\n");
  EXPECT_EQ(c->port, 2000);
  ASSERT_EQ(c->user_aliases.size(), 2u);
  EXPECT_EQ(c->user_aliases[0].alias, "a");
  EXPECT_EQ(c->user_aliases[1].alias, "b");
}

TEST_F(ConfigTest, IncludeGlobMatchingNothingIsFine) {
  auto c = MustLoad("Include nothing.d/*.conf\nInclude missing-?.conf\nPort 2121\n");
  EXPECT_EQ(c->port, 2121);
}

TEST_F(ConfigTest, IncludeRelativeToIncludingFile) {
  Write("a/first.conf", "Include b/second.conf\nServerName first\n");
  Write("a/b/second.conf", "Port 2323\n");
  auto c = MustLoad("Include a/first.conf\n");
  EXPECT_EQ(c->port, 2323);
  EXPECT_EQ(c->server_name, "first");

  // Absolute paths are taken as they are.
  auto c2 = MustLoad("Include " + Path("a/b/second.conf") + "\n");
  EXPECT_EQ(c2->port, 2323);
}

TEST_F(ConfigTest, IncludeMissingFile) {
  EXPECT_EQ(ErrorOf("Port 21\nInclude missing.conf\n"),
            At(2, Path("missing.conf") + ": No such file or directory"));
}

TEST_F(ConfigTest, IncludeDirectoryWithoutWildcard) {
  fs::create_directories(Path("dir.d"));
  EXPECT_EQ(ErrorOf("Include dir.d\n"), At(1, Path("dir.d") + ": Is a directory"));
}

TEST_F(ConfigTest, ErrorLineInsideIncludedFile) {
  Write("inc/sub.conf", "# sub\n\nPort 21\nMaxClient 3\n");
  EXPECT_EQ(ErrorOf("Include inc/sub.conf\n"),
            At(4, "unknown directive \"MaxClient\"", "inc/sub.conf"));
  // After a continuation line inside the included file.
  Write("inc/cont.conf", "DefaultAddress ::1 \\\n  ::2\nPort nope\n");
  EXPECT_EQ(ErrorOf("Include inc/cont.conf\n"),
            At(3, "Port: \"nope\" is not a number", "inc/cont.conf"));
}

TEST_F(ConfigTest, IncludeLoops) {
  Write("loop-a.conf", "Include loop-b.conf\n");
  Write("loop-b.conf", "Port 21\nInclude loop-a.conf\n");
  EXPECT_EQ(ErrorOf("Include loop-a.conf\n"),
            At(2, "Include: \"" + Path("loop-a.conf") + "\" includes itself (include loop)",
               "loop-b.conf"));
  // Including the top-level file from itself.
  EXPECT_EQ(ErrorOf("Port 21\nInclude main.conf\n"),
            At(2, "Include: \"" + Path("main.conf") + "\" includes itself (include loop)"));
  // The same file twice, not nested, is not a loop.
  Write("twice.conf", "UserAlias x ftp\n");
  EXPECT_EQ(ErrorOf("Include twice.conf\nInclude twice.conf\n"),
            At(1, "UserAlias: alias \"x\" is already defined", "twice.conf"));
  Write("port.conf", "Port 2424\n");
  EXPECT_EQ(MustLoad("Include port.conf\nInclude port.conf\n")->port, 2424);
}

TEST_F(ConfigTest, IncludeDepthLimit) {
  // main -> d1 -> ... -> d16 is allowed; d17 is one level too deep.
  const int max = limits::kMaxIncludeDepth;
  for (int i = 1; i <= max + 1; ++i)
    Write("d" + std::to_string(i) + ".conf",
          i <= max ? "Include d" + std::to_string(i + 1) + ".conf\n" : "Port 2525\n");
  EXPECT_EQ(ErrorOf("Include d1.conf\n"),
            At(1, "Include: nested more than 16 levels deep", "d16.conf"));
  Write("d" + std::to_string(max) + ".conf", "Port 2525\n");
  EXPECT_EQ(MustLoad("Include d1.conf\n")->port, 2525);
}

TEST_F(ConfigTest, IncludeCountLimit) {
  for (int i = 0; i <= limits::kMaxIncludedFiles; ++i)
    Write("many/" + std::to_string(10000 + i) + ".conf", "");
  EXPECT_EQ(ErrorOf("Include many/*.conf\n"), At(1, "Include: more than 1024 included files"));
  fs::remove(Path("many/10000.conf"));
  EXPECT_EQ(ErrorOf("Include many/*.conf\n"), "");
}

TEST_F(ConfigTest, BlocksMustCloseInTheFileThatOpensThem) {
  Write("open.conf", "<Limit READ>\nDenyAll\n");
  EXPECT_EQ(ErrorOf("Include open.conf\n</Limit>\n"),
            At(2, "<Limit> opened at line 1 is not closed", "open.conf"));
  Write("close.conf", "DenyAll\n</Limit>\n");
  EXPECT_EQ(ErrorOf("<Limit READ>\nInclude close.conf\n"),
            At(2, "</Limit> without matching <Limit>", "close.conf"));
  // Directives in an included file take the context of the Include line.
  Write("limit-body.conf", "Order deny,allow\nAllow from 10.0.0.0/8\n");
  auto c = MustLoad("<Limit LOGIN>\nInclude limit-body.conf\n</Limit>\n");
  ASSERT_EQ(c->limits.size(), 1u);
  EXPECT_TRUE(c->limits[0].order_deny_first);
  EXPECT_EQ(c->limits[0].rules.size(), 1u);
}

// --- <IfDefine> ----------------------------------------------------------

TEST_F(ConfigTest, IfDefine) {
  const std::string text =
      "Port 1000\n"
      "<IfDefine FAST>\n"
      "  Port 2000\n"
      "</IfDefine>\n"
      "<IfDefine !FAST>\n"
      "  ServerName slow\n"
      "</IfDefine>\n";
  auto plain = MustLoad(text);
  EXPECT_EQ(plain->port, 1000);
  EXPECT_EQ(plain->server_name, "slow");
  auto fast = MustLoad(text, {"FAST"});
  EXPECT_EQ(fast->port, 2000);
  EXPECT_EQ(fast->server_name, Config{}.server_name);
  // Names are case-sensitive, like ProFTPD's -D.
  EXPECT_EQ(MustLoad(text, {"fast"})->port, 1000);
}

TEST_F(ConfigTest, IfDefineNested) {
  const std::string text =
      "<IfDefine A>\n"
      "  <IfDefine B>\n"
      "    Port 3000\n"
      "  </IfDefine>\n"
      "  <IfDefine !B>\n"
      "    Port 2000\n"
      "  </IfDefine>\n"
      "</IfDefine>\n";
  EXPECT_EQ(MustLoad(text)->port, 21);
  EXPECT_EQ(MustLoad(text, {"A"})->port, 2000);
  EXPECT_EQ(MustLoad(text, {"A", "B"})->port, 3000);
  EXPECT_EQ(MustLoad(text, {"B"})->port, 21);
}

TEST_F(ConfigTest, SkippedSectionsAreNotValidatedButMustBalance) {
  // Nonsense directives, unknown blocks, bad values and missing includes are
  // fine while skipped.
  auto c = MustLoad(
      "<IfDefine NEVER>\n"
      "  NoSuchDirective 1 2 3\n"
      "  Port banana\n"
      "  Include /does/not/exist.conf\n"
      "  <Directory /x>\n"
      "    AllowAll\n"
      "  </Directory>\n"
      "  <Anonymous relative>\n"
      "  </Anonymous>\n"
      "</IfDefine>\n"
      "Port 2121\n");
  EXPECT_EQ(c->port, 2121);

  EXPECT_EQ(ErrorOf("<IfDefine NEVER>\n<Limit READ>\n</IfDefine>\n"),
            At(3, "</IfDefine> does not match <Limit> opened at line 2"));
  EXPECT_EQ(ErrorOf("<IfDefine NEVER>\nPort 1\n"),
            At(2, "<IfDefine> opened at line 1 is not closed"));
  EXPECT_EQ(ErrorOf("<IfDefine NEVER>\n</Limit>\n</IfDefine>\n"),
            At(2, "</Limit> does not match <IfDefine> opened at line 1"));
  EXPECT_EQ(ErrorOf("<IfDefine NEVER>\n<Limit READ\n</Limit>\n</IfDefine>\n"),
            At(2, "<Limit> is missing its closing \">\""));
}

TEST_F(ConfigTest, IfDefineErrors) {
  EXPECT_EQ(ErrorOf("<IfDefine>\n</IfDefine>\n"), At(1, "<IfDefine>: expected 1 argument, got 0"));
  EXPECT_EQ(ErrorOf("<IfDefine A B>\n</IfDefine>\n"),
            At(1, "<IfDefine>: expected 1 argument, got 2"));
  EXPECT_EQ(ErrorOf("<IfDefine !>\n</IfDefine>\n"), At(1, "<IfDefine>: empty define name"));
  EXPECT_EQ(ErrorOf("</IfDefine>\n"), At(1, "</IfDefine> without matching <IfDefine>"));
}

TEST_F(ConfigTest, IfDefineInsideBlocksKeepsTheirContext) {
  auto c = MustLoad(
      "<Anonymous /srv/ftp>\n"
      "  User ftp\n"
      "  <IfDefine G>\n"
      "    Group special\n"
      "  </IfDefine>\n"
      "  <IfDefine !G>\n"
      "    Group nogroup\n"
      "  </IfDefine>\n"
      "  <Limit READ>\n"
      "    <IfDefine G>\n"
      "      DenyAll\n"
      "    </IfDefine>\n"
      "  </Limit>\n"
      "</Anonymous>\n",
      {"G"});
  ASSERT_TRUE(c->anonymous);
  EXPECT_EQ(c->anonymous->group, "special");
  EXPECT_TRUE(c->group.empty());
  ASSERT_EQ(c->anonymous->limits.size(), 1u);
  EXPECT_TRUE(c->anonymous->limits[0].deny_all);
  // Wrong-context checks still apply through <IfDefine>.
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\n<IfDefine X>\nPort 1\n</IfDefine>\n</Anonymous>\n", {"X"}),
            At(3, "directive \"Port\" is not allowed inside <Anonymous>"));
}

// --- blocks and contexts ----------------------------------------------------

TEST_F(ConfigTest, WrongContext) {
  EXPECT_EQ(ErrorOf("AllowAll\n"), At(1, "\"AllowAll\" is only allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("Order allow,deny\n"), At(1, "\"Order\" is only allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("Allow from all\n"), At(1, "\"Allow\" is only allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\nUser ftp\nGroup ftp\nDenyAll\n</Anonymous>\n"),
            At(4, "\"DenyAll\" is only allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\nUser ftp\nPort 21\n</Anonymous>\n"),
            At(3, "directive \"Port\" is not allowed inside <Anonymous>"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\nMaxClients 3\n</Anonymous>\n"),
            At(2, "directive \"MaxClients\" is not allowed inside <Anonymous>"));
  EXPECT_EQ(ErrorOf("<Limit READ>\nUser ftp\n</Limit>\n"),
            At(2, "directive \"User\" is not allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Limit READ>\nPort 21\n</Limit>\n"),
            At(2, "directive \"Port\" is not allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Limit READ>\n<Limit WRITE>\n</Limit>\n</Limit>\n"),
            At(2, "<Limit> is not allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Limit READ>\n<Anonymous /srv>\n</Anonymous>\n</Limit>\n"),
            At(2, "<Anonymous> is not allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Anonymous /a>\n<Anonymous /b>\n</Anonymous>\n</Anonymous>\n"),
            At(2, "only one <Anonymous> block is supported"));
}

// ---------------------------------------------------------------------------
// <Directory>: parsing, placement, and ProFTPD's matching rules

TEST_F(ConfigTest, DirectoryParsesAtServerLevelAndInAnonymous) {
  auto c = MustLoad(
      "<Directory /srv/ftp/pub/*>\n"
      "  <Limit WRITE>\n    DenyAll\n  </Limit>\n"
      "</Directory>\n"
      "<Anonymous /srv/ftp>\n  User ftp\n  Group ftp\n"
      "  <Directory pub/private>\n    <Limit RETR>\n      DenyAll\n    </Limit>\n  </Directory>\n"
      "  <Directory ~/incoming/>\n  </Directory>\n"
      "  <Directory *>\n  </Directory>\n"
      "</Anonymous>\n"
      "<Directory ~/mine>\n</Directory>\n");
  ASSERT_EQ(c->directories.size(), 2u);
  EXPECT_EQ(c->directories[0].pattern, "/srv/ftp/pub");
  EXPECT_TRUE(c->directories[0].contents_only);
  ASSERT_EQ(c->directories[0].limits.size(), 1u);
  EXPECT_EQ(c->directories[0].limits[0].commands, std::vector<std::string>{"WRITE"});
  EXPECT_EQ(c->directories[0].line, 1);
  EXPECT_TRUE(c->directories[1].home);
  EXPECT_EQ(c->directories[1].pattern, "mine");
  ASSERT_TRUE(c->anonymous);
  const auto& d = c->anonymous->directories;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].pattern, "/srv/ftp/pub/private");  // relative: under the anonymous root
  EXPECT_EQ(d[0].path, "pub/private");
  ASSERT_EQ(d[0].limits.size(), 1u);
  EXPECT_TRUE(d[0].limits[0].deny_all);
  EXPECT_EQ(d[1].pattern, "/srv/ftp/incoming");  // ~ inside <Anonymous>: its root
  EXPECT_FALSE(d[1].home);
  EXPECT_EQ(d[2].pattern, "/srv/ftp");
  EXPECT_TRUE(d[2].contents_only);
  EXPECT_TRUE(c->anonymous->limits.empty()) << "the <Limit> belongs to the <Directory>";
}

TEST_F(ConfigTest, DirectoryErrors) {
  EXPECT_EQ(ErrorOf("<Directory pub>\n</Directory>\n"),
            At(1,
               "<Directory>: \"pub\" is not an absolute path (relative paths are allowed "
               "inside <Anonymous> only)"));
  EXPECT_EQ(ErrorOf("<Directory /a /b>\n</Directory>\n"),
            At(1, "<Directory>: expected 1 argument, got 2"));
  EXPECT_EQ(ErrorOf("<Directory /a>\n<Directory /a/b>\n</Directory>\n</Directory>\n"),
            At(2, "<Directory> is not allowed inside <Directory>"));
  EXPECT_EQ(ErrorOf("<Limit READ>\n<Directory /a>\n</Directory>\n</Limit>\n"),
            At(2, "<Directory> is not allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Directory /a>\n<Anonymous /srv>\n</Anonymous>\n</Directory>\n"),
            At(2, "<Anonymous> is not allowed inside <Directory>"));
  // Directives not allowed in <Directory> are errors with file:line.
  EXPECT_EQ(ErrorOf("<Directory /a>\nMaxClients 3\n</Directory>\n"),
            At(2, "directive \"MaxClients\" is not allowed inside <Directory>"));
  EXPECT_EQ(ErrorOf("<Directory /a>\nDisplayLogin x\n</Directory>\n"),
            At(2, "directive \"DisplayLogin\" is not allowed inside <Directory>"));
  EXPECT_EQ(ErrorOf("<Directory /a>\nDenyAll\n</Directory>\n"),
            At(2, "\"DenyAll\" is only allowed inside <Limit>"));
  EXPECT_EQ(ErrorOf("<Directory /a>\n"), At(1, "<Directory> opened at line 1 is not closed"));
  EXPECT_EQ(ErrorOf("<Directory ~nosuchuser-poolftpd/x>\n</Directory>\n"),
            At(1, "<Directory>: unknown user \"nosuchuser-poolftpd\""));
}

net::Endpoint Endpoint(const char* addr, uint16_t port) {
  return net::Endpoint{net::IpAddress::Parse(addr).value(), port};
}

TEST_F(ConfigTest, ListenerSpecs) {
  auto any = MustLoad("Port 2121\n");
  const auto l = Listeners(*any);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].endpoint.ToString(), Endpoint("::", 2121).ToString());
  EXPECT_TRUE(l[0].dual_stack);
  EXPECT_FALSE(l[0].implicit_tls);
  EXPECT_FALSE(l[0].proxy_protocol);
  auto two = MustLoad("Port 2121\nDefaultAddress 127.0.0.1 ::1\n");
  const auto t = Listeners(*two);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].endpoint.ToString(), Endpoint("127.0.0.1", 2121).ToString());
  EXPECT_EQ(t[1].endpoint.ToString(), Endpoint("::1", 2121).ToString());
  for (const auto& x : t) {
    EXPECT_FALSE(x.dual_stack);
    EXPECT_FALSE(x.implicit_tls);
    EXPECT_FALSE(x.proxy_protocol);
  }
}

TEST_F(ConfigTest, GlobalAndVirtualHostNotSupportedYet) {
  EXPECT_EQ(ErrorOf("<Global>\n</Global>\n"), At(1, "<Global> is not supported yet"));
  EXPECT_EQ(ErrorOf("ServerName x\n<VirtualHost 127.0.0.1>\n</VirtualHost>\n"),
            At(2, "<VirtualHost> is not supported yet"));
}

Directory Dir(const std::string& pattern, bool contents_only = false, bool home = false) {
  Directory d;
  d.path = pattern;
  d.pattern = pattern;
  d.contents_only = contents_only;
  d.home = home;
  return d;
}

// The matching table: PATH matched against one block (ProFTPD's rules, see
// config.h).
TEST(DirectoryMatchTest, Table) {
  struct Row {
    Directory dir;
    const char* path;
    bool match;
    const char* what;
  };
  const Row rows[] = {
      {Dir("/srv/ftp/pub"), "/srv/ftp/pub", true, "exact"},
      {Dir("/srv/ftp/pub"), "/srv/ftp/pub/file", true, "child"},
      {Dir("/srv/ftp/pub"), "/srv/ftp/pub/a/b/file", true, "grandchild (inherited)"},
      {Dir("/srv/ftp/pub"), "/srv/ftp", false, "parent"},
      {Dir("/srv/ftp/pub"), "/srv/ftp/public", false, "a longer name is not a child"},
      {Dir("/srv/ftp/pub"), "/srv/ftp/pu", false, "a prefix of the name"},
      {Dir("/srv/ftp/pub", true), "/srv/ftp/pub", false, "/* : not the directory itself"},
      {Dir("/srv/ftp/pub", true), "/srv/ftp/pub/x", true, "/* : what is inside"},
      {Dir("/srv/ftp/pub", true), "/srv/ftp/pub/x/y", true, "/* : and deeper"},
      {Dir("/srv/*/pub"), "/srv/a/pub", true, "* matches one component"},
      {Dir("/srv/*/pub"), "/srv/a/pub/f", true, "glob, child"},
      {Dir("/srv/*/pub"), "/srv/a/b/pub", false, "* does not match across /"},
      {Dir("/srv/ftp/p*"), "/srv/ftp/pub/x", true, "trailing glob in a name"},
      {Dir("/srv/ftp/p?b"), "/srv/ftp/pub", true, "? is one character"},
      {Dir("/srv/ftp/p?b"), "/srv/ftp/puub", false, "? is exactly one character"},
      {Dir("/srv/ftp/[a-c]*"), "/srv/ftp/beta", true, "[a-c] set"},
      {Dir("/srv/ftp/[a-c]*"), "/srv/ftp/delta", false, "[a-c] set, no match"},
      {Dir("/"), "/anything/at/all", true, "/ governs everything"},
      {Dir("/", true), "/", false, "/* is not / itself"},
      {Dir("/srv/ftp//pub/"), "/srv/ftp/pub/x", true, "doubled and trailing slashes"},
      {Dir("pub", false, true), "/srv/ftp/pub/x", true, "~/pub with home /srv/ftp"},
      {Dir("pub", false, true), "/home/u/pub", false, "~/pub under another home"},
      {Dir("", false, true), "/srv/ftp", true, "~ is the home itself"},
  };
  for (const auto& r : rows)
    EXPECT_EQ(DirectoryMatches(r.dir, "/srv/ftp", r.path), r.match)
        << r.what << ": " << (r.dir.home ? "~/" : "") << r.dir.pattern
        << (r.dir.contents_only ? "/*" : "") << " vs " << r.path;
}

// Which block governs: the closest match, through FindPolicy over a parsed
// tree (server level and inside <Anonymous>), with the outer ones after it.
TEST_F(ConfigTest, FindPolicyNearestWins) {
  auto c = MustLoad(
      "<Directory /srv/ftp/pub>\n</Directory>\n"
      "<Directory /srv/ftp/pub/*>\n</Directory>\n"
      "<Directory /srv/ftp/*/private>\n</Directory>\n"
      "<Anonymous /srv/ftp>\n  User ftp\n  Group ftp\n"
      "  <Directory pub/private>\n  </Directory>\n"
      "  <Directory pub>\n  </Directory>\n"
      "</Anonymous>\n");
  const Anonymous* a = &*c->anonymous;
  std::string scratch;
  auto nearest = [&](std::string_view vpath) -> std::string {
    const Policy p = FindPolicy(*c, a, a->root, vpath, &scratch);
    EXPECT_EQ(p.anonymous, a);
    EXPECT_EQ(p.server, c.get());
    if (p.directory() == nullptr) return "-";
    const Directory* d = p.directory();
    return std::string(d == &a->directories[0] || d == &a->directories[1] ? "anon:" : "server:") +
           d->path;
  };
  EXPECT_EQ(nearest("/"), "-");
  EXPECT_EQ(nearest("/other/x"), "-");
  // Equal rank: the block inside <Anonymous> wins over the server's.
  EXPECT_EQ(nearest("/pub"), "anon:pub");
  // Inside /pub: the /* block is closer than the directory block.
  EXPECT_EQ(nearest("/pub/file"), "server:/srv/ftp/pub/*");
  // Two candidates of equal depth: the literal name beats the glob.
  EXPECT_EQ(nearest("/pub/private"), "anon:pub/private");
  EXPECT_EQ(nearest("/pub/private/x/y"), "anon:pub/private");
  EXPECT_EQ(nearest("/mirror/private"), "server:/srv/ftp/*/private");
  // Outer blocks follow, closest first.
  const Policy p = FindPolicy(*c, a, a->root, "/pub/private/x", &scratch);
  ASSERT_EQ(p.directory_count, 5u);
  EXPECT_EQ(p.directories[0]->path, "pub/private");
  EXPECT_EQ(p.directories[1]->path, "/srv/ftp/*/private");
  EXPECT_EQ(p.directories[2]->path, "/srv/ftp/pub/*");
  // Without a path: <Anonymous> and the server only.
  const Policy base = BasePolicy(*c, a);
  EXPECT_EQ(base.directory_count, 0u);
  EXPECT_TRUE(base.read_only());
}

TEST_F(ConfigTest, BlockTagErrors) {
  EXPECT_EQ(ErrorOf("Port 21\n<Anonymous /srv>\nUser ftp\nGroup ftp\n"),
            At(4, "<Anonymous> opened at line 2 is not closed"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\n<Limit READ>\n</Limit>\n"),
            At(3, "<Anonymous> opened at line 1 is not closed"));
  EXPECT_EQ(ErrorOf("Port 21\n</Limit>\n"), At(2, "</Limit> without matching <Limit>"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\n<Limit READ>\n</Anonymous>\n"),
            At(3, "</Anonymous> does not match <Limit> opened at line 2"));
  EXPECT_EQ(ErrorOf("<Limit READ>\n</Limit extra>\n"), At(2, "</Limit> takes no arguments"));
  EXPECT_EQ(ErrorOf("<Limit READ\n</Limit>\n"), At(1, "<Limit> is missing its closing \">\""));
  EXPECT_EQ(ErrorOf("<Limit READ>\n</Limit\n"), At(2, "</Limit> is missing its closing \">\""));
  EXPECT_EQ(ErrorOf("<Limit> READ\n</Limit>\n"), At(1, "text after \">\" in <Limit> tag"));
  EXPECT_EQ(ErrorOf("<>\n"), At(1, "malformed block tag \"<>\""));
  EXPECT_EQ(ErrorOf("< Limit>\n"), At(1, "malformed block tag \"<\""));
  // A separate ">" and a quoted argument are fine.
  auto c = MustLoad(
      "<Limit READ >\n</Limit >\n<Anonymous \"/srv/my ftp\">\nUser ftp\nGroup g\n</Anonymous>\n");
  ASSERT_EQ(c->limits.size(), 1u);
  ASSERT_TRUE(c->anonymous);
  EXPECT_EQ(c->anonymous->root, "/srv/my ftp");
}

TEST_F(ConfigTest, AnonymousRoot) {
  const char* body = "\nUser ftp\nGroup ftp\n</Anonymous>\n";
  EXPECT_EQ(MustLoad(std::string("<Anonymous ~root>") + body)->anonymous->root, "/root");
  EXPECT_EQ(MustLoad(std::string("<Anonymous ~root/pub/>") + body)->anonymous->root, "/root/pub");
  EXPECT_EQ(MustLoad(std::string("<Anonymous //srv//ftp/>") + body)->anonymous->root, "/srv/ftp");
  EXPECT_EQ(MustLoad(std::string("<Anonymous />") + body)->anonymous->root, "/");
  EXPECT_EQ(ErrorOf(std::string("<Anonymous ~no_such_user_poolftpd>") + body),
            At(1, "<Anonymous>: unknown user \"no_such_user_poolftpd\""));
  EXPECT_EQ(ErrorOf(std::string("<Anonymous srv/ftp>") + body),
            At(1, "<Anonymous>: \"srv/ftp\" is not an absolute path"));
  EXPECT_EQ(ErrorOf(std::string("<Anonymous ~>") + body),
            At(1, "<Anonymous>: \"~\" needs a user name after ~"));
  EXPECT_EQ(ErrorOf(std::string("<Anonymous>") + body),
            At(1, "<Anonymous>: expected 1 argument, got 0"));
  EXPECT_EQ(ErrorOf(std::string("<Anonymous /a /b>") + body),
            At(1, "<Anonymous>: expected 1 argument, got 2"));
}

TEST_F(ConfigTest, AnonymousRequiresUserAndGroup) {
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\nGroup ftp\n\n</Anonymous>\n"),
            At(4, "<Anonymous> opened at line 1 has no User directive"));
  EXPECT_EQ(ErrorOf("<Anonymous /srv>\nUser ftp\n</Anonymous>\n"),
            At(3, "<Anonymous> opened at line 1 has no Group directive"));
}

TEST_F(ConfigTest, AnonymousDirectivesDoNotLeakToServerLevel) {
  auto c = MustLoad(
      "User daemon\nGroup daemon\nDisplayLogin /etc/issue.ftp\n"
      "<Anonymous /srv/ftp>\nUser ftp\nGroup nogroup\nDisplayLogin msg.txt\nUserAlias anon ftp\n"
      "</Anonymous>\n");
  EXPECT_EQ(c->user, "daemon");
  EXPECT_EQ(c->group, "daemon");
  EXPECT_EQ(c->display_login, "/etc/issue.ftp");
  EXPECT_EQ(c->anonymous->user, "ftp");
  EXPECT_EQ(c->anonymous->group, "nogroup");
  EXPECT_EQ(c->anonymous->display_login, "msg.txt");
  ASSERT_EQ(c->user_aliases.size(), 1u);  // stored at server level
  EXPECT_EQ(c->user_aliases[0].alias, "anon");
}

// --- <Limit> parsing ------------------------------------------------------

TEST_F(ConfigTest, LimitCommands) {
  auto c = MustLoad("<Limit stor,Retr  site_chmod DIRS>\n</Limit>\n");
  ASSERT_EQ(c->limits.size(), 1u);
  EXPECT_EQ(c->limits[0].commands,
            (std::vector<std::string>{"STOR", "RETR", "SITE_CHMOD", "DIRS"}));
  EXPECT_EQ(ErrorOf("<Limit>\n</Limit>\n"), At(1, "<Limit>: expected at least 1 command, got 0"));
  EXPECT_EQ(ErrorOf("<Limit ,>\n</Limit>\n"), At(1, "<Limit>: expected at least 1 command, got 0"));
  EXPECT_EQ(ErrorOf("<Limit RE-TR>\n</Limit>\n"),
            At(1, "<Limit>: \"RE-TR\" is not an FTP command or command group"));
  EXPECT_EQ(ErrorOf("<Limit STOR2>\n</Limit>\n"),
            At(1, "<Limit>: \"STOR2\" is not an FTP command or command group"));
}

TEST_F(ConfigTest, AllowDenyAddresses) {
  auto c = MustLoad(
      "<Limit LOGIN>\n"
      "  Allow from 10.0.0.0/8, 192.168.1. 2001:db8::/32,::1\n"
      "  Allow 172.16.5.4\n"
      "  Deny FROM all\n"
      "  Deny none\n"
      "  Allow from 10.1.1.1 , 10.2.2.2\n"
      "</Limit>\n");
  ASSERT_EQ(c->limits.size(), 1u);
  const auto& rules = c->limits[0].rules;
  ASSERT_EQ(rules.size(), 5u);
  EXPECT_TRUE(rules[0].allow);
  ASSERT_EQ(rules[0].networks.size(), 4u);
  EXPECT_EQ(rules[0].networks[0].ToString(), "10.0.0.0/8");
  EXPECT_EQ(rules[0].networks[1].ToString(), "192.168.1.0/24");
  EXPECT_EQ(rules[0].networks[2].ToString(), "2001:db8::/32");
  EXPECT_EQ(rules[0].networks[3].ToString(), "::1/128");
  EXPECT_EQ(rules[1].networks[0].ToString(), "172.16.5.4/32");
  EXPECT_FALSE(rules[2].allow);
  EXPECT_TRUE(rules[2].all);
  EXPECT_TRUE(rules[3].none);
  EXPECT_EQ(rules[4].networks.size(), 2u);

  const BadCase cases[] = {
      {"Allow from ftp.example.com",
       "Allow: \"ftp.example.com\": hostnames are not supported in Allow/Deny (UseReverseDNS is "
       "off)"},
      {"Deny from .example.org",
       "Deny: \".example.org\": hostnames are not supported in Allow/Deny (UseReverseDNS is off)"},
      {"Allow from 10.0.0.0/33", "Allow: \"10.0.0.0/33\" is not a valid address or network"},
      {"Allow from 300.1.1.1", "Allow: \"300.1.1.1\" is not a valid address or network"},
      {"Deny from all, 10.0.0.1", "Deny: \"all\" cannot be combined with other addresses"},
      {"Deny from 10.0.0.1 none", "Deny: \"none\" cannot be combined with other addresses"},
      {"Allow from !10.0.0.1", "Allow: \"!10.0.0.1\": negated addresses are not supported"},
      {"Allow from", "Allow: expected at least one address"},
      {"Allow from ,", "Allow: expected at least one address"},
      {"Order allow", "Order: \"allow\" is not allow,deny or deny,allow"},
      {"Order deny allow", "Order: \"deny allow\" is not allow,deny or deny,allow"},
  };
  for (const auto& bc : cases)
    EXPECT_EQ(ErrorOf(std::string("<Limit LOGIN>\n") + bc.line + "\n</Limit>\n"), At(2, bc.reason))
        << bc.line;
}

TEST_F(ConfigTest, OrderSpellings) {
  for (const char* o : {"deny,allow", "Deny,Allow", "deny, allow", "deny ,allow", "deny , allow"}) {
    auto c = MustLoad(std::string("<Limit LOGIN>\nOrder ") + o + "\n</Limit>\n");
    EXPECT_TRUE(c->limits[0].order_deny_first) << o;
  }
  auto c = MustLoad("<Limit LOGIN>\nOrder deny,allow\nOrder allow,deny\n</Limit>\n");
  EXPECT_FALSE(c->limits[0].order_deny_first);
}

// --- Limit semantics ---------------------------------------------------------

Limit MakeLimit(std::vector<std::string> commands) {
  Limit l;
  l.commands = std::move(commands);
  return l;
}

AccessRule Rule(bool allow, std::vector<const char*> nets) {
  AccessRule r;
  r.allow = allow;
  for (const char* n : nets) r.networks.push_back(*net::Cidr::Parse(n));
  return r;
}

// What Limit::Match()/Evaluate() say, in the shape the tests ask it.
bool Covers(const Limit& l, std::string_view verb) { return l.Match(verb) != LimitMatch::kNone; }
bool CoversDirectly(const Limit& l, std::string_view verb) {
  return l.Match(verb) == LimitMatch::kDirect;
}
bool Permits(const Limit& l, const net::IpAddress& addr) {
  const LimitVerdict v = l.Evaluate(addr);
  return v == LimitVerdict::kExplicitAllow || v == LimitVerdict::kImplicitAllow;
}

TEST(LimitTest, CoversGroupsAndVerbs) {
  const Limit read = MakeLimit({"READ"});
  EXPECT_TRUE(Covers(read, "RETR"));
  EXPECT_TRUE(Covers(read, "size"));
  EXPECT_FALSE(Covers(read, "STOR"));
  EXPECT_FALSE(Covers(read, "LIST"));
  EXPECT_FALSE(CoversDirectly(read, "RETR"));
  EXPECT_EQ(read.Match("RETR"), LimitMatch::kGroup);

  const Limit write = MakeLimit({"WRITE"});
  for (const char* v : {"APPE", "DELE", "MKD", "RMD", "RNTO", "STOR", "STOU", "XMKD", "XRMD",
                        "SITE_CHMOD", "SITE_CHGRP"})
    EXPECT_TRUE(Covers(write, v)) << v;
  for (const char* v : {"RETR", "RNFR", "LIST", "LOGIN", "CWD"})
    EXPECT_FALSE(Covers(write, v)) << v;

  const Limit dirs = MakeLimit({"DIRS"});
  for (const char* v : {"CDUP", "CWD", "LIST", "MDTM", "MLSD", "MLST", "NLST", "PWD", "RNFR",
                        "STAT", "XCUP", "XCWD", "XPWD"})
    EXPECT_TRUE(Covers(dirs, v)) << v;
  for (const char* v : {"RETR", "STOR", "SIZE", "LOGIN"}) EXPECT_FALSE(Covers(dirs, v)) << v;

  const Limit login = MakeLimit({"LOGIN"});
  EXPECT_TRUE(Covers(login, "LOGIN"));
  EXPECT_TRUE(CoversDirectly(login, "login"));
  EXPECT_FALSE(Covers(login, "USER"));
  EXPECT_FALSE(Covers(login, "RETR"));

  const Limit all = MakeLimit({"ALL"});
  for (const char* v : {"RETR", "STOR", "CWD", "NOOP", "SITE_CHMOD", "PASV"})
    EXPECT_EQ(all.Match(v), LimitMatch::kAll) << v;
  EXPECT_FALSE(Covers(all, "LOGIN"));
  EXPECT_FALSE(CoversDirectly(all, "RETR"));

  const Limit mixed = MakeLimit({"ALL", "READ", "STOR"});
  EXPECT_EQ(mixed.Match("STOR"), LimitMatch::kDirect);
  EXPECT_TRUE(CoversDirectly(mixed, "stor"));
  EXPECT_EQ(mixed.Match("RETR"), LimitMatch::kGroup);
  EXPECT_EQ(mixed.Match("CWD"), LimitMatch::kAll);
  EXPECT_EQ(mixed.Match("LOGIN"), LimitMatch::kNone);

  const Limit direct = MakeLimit({"RETR", "CWD"});
  EXPECT_TRUE(CoversDirectly(direct, "RETR"));
  EXPECT_TRUE(Covers(direct, "cwd"));
  EXPECT_FALSE(Covers(direct, "SIZE"));
  EXPECT_EQ(direct.Match("SIZE"), LimitMatch::kNone);
}

TEST(LimitTest, EmptyBlockAllowsImplicitly) {
  const Limit l = MakeLimit({"LOGIN"});
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kImplicitAllow);
  EXPECT_TRUE(Permits(l, Ip("1.2.3.4")));
  Limit deny_first = l;
  deny_first.order_deny_first = true;
  EXPECT_EQ(deny_first.Evaluate(Ip("1.2.3.4")), LimitVerdict::kImplicitDeny);
  EXPECT_FALSE(Permits(deny_first, Ip("1.2.3.4")));
}

TEST(LimitTest, AllowAllAndDenyAll) {
  Limit l = MakeLimit({"READ"});
  l.deny_all = true;
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kExplicitDeny);
  l.allow_all = true;  // both: Order decides
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kExplicitAllow);
  l.order_deny_first = true;
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kExplicitDeny);
  l.deny_all = false;
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kExplicitAllow);
}

TEST(LimitTest, OrderAllowDenyIsProftpdNotApache) {
  // Order allow,deny: Allow wins over Deny; unmatched clients are allowed.
  Limit l = MakeLimit({"LOGIN"});
  l.rules.push_back(Rule(true, {"10.0.0.0/8"}));
  l.rules.push_back(Rule(false, {"10.1.0.0/16", "192.168.0.0/16"}));
  EXPECT_EQ(l.Evaluate(Ip("10.1.2.3")), LimitVerdict::kExplicitAllow);  // both match
  EXPECT_EQ(l.Evaluate(Ip("10.9.9.9")), LimitVerdict::kExplicitAllow);
  EXPECT_EQ(l.Evaluate(Ip("192.168.3.4")), LimitVerdict::kExplicitDeny);
  EXPECT_EQ(l.Evaluate(Ip("8.8.8.8")), LimitVerdict::kImplicitAllow);

  // Order deny,allow: Deny wins over Allow; unmatched clients are denied.
  l.order_deny_first = true;
  EXPECT_EQ(l.Evaluate(Ip("10.1.2.3")), LimitVerdict::kExplicitDeny);
  EXPECT_EQ(l.Evaluate(Ip("10.9.9.9")), LimitVerdict::kExplicitAllow);
  EXPECT_EQ(l.Evaluate(Ip("192.168.3.4")), LimitVerdict::kExplicitDeny);
  EXPECT_EQ(l.Evaluate(Ip("8.8.8.8")), LimitVerdict::kImplicitDeny);
  EXPECT_FALSE(Permits(l, Ip("8.8.8.8")));
  EXPECT_TRUE(Permits(l, Ip("10.9.9.9")));
}

TEST(LimitTest, CommonRecipes) {
  // Only 10/8 may log in: "Order allow,deny / Allow from 10.0.0.0/8 / DenyAll".
  Limit only_lan = MakeLimit({"LOGIN"});
  only_lan.rules.push_back(Rule(true, {"10.0.0.0/8"}));
  only_lan.deny_all = true;
  EXPECT_TRUE(Permits(only_lan, Ip("10.2.3.4")));
  EXPECT_FALSE(Permits(only_lan, Ip("11.2.3.4")));

  // Everyone except one network: "Order deny,allow / Deny from X / Allow from all".
  Limit block_one = MakeLimit({"LOGIN"});
  block_one.order_deny_first = true;
  block_one.rules.push_back(Rule(false, {"198.51.100.0/24"}));
  AccessRule all;
  all.all = true;
  block_one.rules.push_back(all);
  EXPECT_FALSE(Permits(block_one, Ip("198.51.100.7")));
  EXPECT_TRUE(Permits(block_one, Ip("203.0.113.1")));
  EXPECT_TRUE(Permits(block_one, Ip("2001:db8::1")));
}

TEST(LimitTest, AllNoneAndAddressFamilies) {
  Limit l = MakeLimit({"LOGIN"});
  AccessRule none;
  none.allow = true;
  none.none = true;
  l.rules.push_back(none);
  l.order_deny_first = true;
  // "Allow from none" grants nothing: deny,allow falls through to implicit deny.
  EXPECT_EQ(l.Evaluate(Ip("1.2.3.4")), LimitVerdict::kImplicitDeny);

  Limit v6 = MakeLimit({"LOGIN"});
  v6.deny_all = true;
  v6.rules.push_back(Rule(true, {"2001:db8::/32", "192.168.1."}));
  EXPECT_TRUE(Permits(v6, Ip("2001:db8:1::5")));
  EXPECT_FALSE(Permits(v6, Ip("2001:db9::5")));
  EXPECT_TRUE(Permits(v6, Ip("192.168.1.200")));
  EXPECT_TRUE(Permits(v6, Ip("::ffff:192.168.1.200")));  // mapped address = IPv4
  EXPECT_FALSE(Permits(v6, Ip("192.168.2.1")));
}

TEST_F(ConfigTest, PermitsFromParsedConfig) {
  auto c = MustLoad(
      "<Limit LOGIN>\n"
      "  Order deny,allow\n"
      "  Deny from 198.51.100.0/24, 192.0.2. \\\n"
      "      2001:db8:bad::/48\n"
      "  Allow from all\n"
      "</Limit>\n");
  const Limit& l = c->limits[0];
  EXPECT_FALSE(Permits(l, Ip("198.51.100.1")));
  EXPECT_FALSE(Permits(l, Ip("192.0.2.77")));
  EXPECT_FALSE(Permits(l, Ip("2001:db8:bad::1")));
  EXPECT_TRUE(Permits(l, Ip("2001:db8:600d::1")));
  EXPECT_TRUE(Permits(l, Ip("127.0.0.1")));
}

// --- FindAnonymous ------------------------------------------------------

TEST_F(ConfigTest, FindAnonymousWithUserAlias) {
  auto c = MustLoad(
      "UserAlias anonymous ftp\nUserAlias guest ftp\nUserAlias admin root\n"
      "<Anonymous /srv/ftp>\nUser ftp\nGroup nogroup\n</Anonymous>\n");
  ASSERT_TRUE(c->anonymous);
  EXPECT_EQ(c->FindAnonymous("ftp"), &*c->anonymous);
  EXPECT_EQ(c->FindAnonymous("anonymous"), &*c->anonymous);
  EXPECT_EQ(c->FindAnonymous("guest"), &*c->anonymous);
  EXPECT_EQ(c->FindAnonymous("Anonymous"), nullptr);  // case-sensitive
  EXPECT_EQ(c->FindAnonymous("FTP"), nullptr);
  EXPECT_EQ(c->FindAnonymous("admin"), nullptr);  // aliased to another account
  EXPECT_EQ(c->FindAnonymous("alice"), nullptr);
  EXPECT_EQ(c->FindAnonymous(""), nullptr);
  EXPECT_EQ(c->ResolveUserAlias("admin"), "root");
  EXPECT_EQ(c->ResolveUserAlias("alice"), "alice");

  auto none = MustLoad("UserAlias anonymous ftp\n");
  EXPECT_EQ(none->FindAnonymous("anonymous"), nullptr);
  EXPECT_EQ(none->FindAnonymous("ftp"), nullptr);
}

// CheckEnvironment: the accounts (only as root) and the anonymous root, with
// the location of the line that set each.
class EnvironmentTest : public ConfigTest {
 protected:
  std::string EnvError(const std::string& text, bool as_root) {
    auto c = MustLoad(text);
    if (!c) return "(load failed)";
    auto r = CheckEnvironment(*c, as_root);
    return r ? "" : r.error().message();
  }
};

TEST_F(EnvironmentTest, AccountsAreCheckedOnlyAsRoot) {
  fs::create_directories(Path("tree"));
  const std::string anon = "<Anonymous " + Path("tree") + ">\n";
  const std::string bad_user =
      "# c\n" + anon + "  User poolftpd-no-such-user\n  Group nogroup\n</Anonymous>\n";
  EXPECT_EQ(EnvError(bad_user, true),
            At(3, "User \"poolftpd-no-such-user\": no such user on this system"));
  EXPECT_EQ(EnvError(bad_user, false), "");
  const std::string bad_group =
      anon + "  User nobody\n  Group poolftpd-no-such-group\n</Anonymous>\n";
  EXPECT_EQ(EnvError(bad_group, true),
            At(3, "Group \"poolftpd-no-such-group\": no such group on this system"));
  EXPECT_EQ(EnvError(bad_group, false), "");
  EXPECT_EQ(EnvError(anon + "  User root\n  Group nogroup\n</Anonymous>\n", true),
            At(2, "User \"root\" is root: refusing to run workers as root"));
  EXPECT_EQ(EnvError(anon + "  User nobody\n  Group nogroup\n</Anonymous>\n", true), "");
}

TEST_F(EnvironmentTest, ServerLevelAccountsAndDefaults) {
  // Without <Anonymous> the server-level User/Group are the workers' identity.
  EXPECT_EQ(EnvError("Port 2121\nUser poolftpd-no-such-user\n", true),
            At(2, "User \"poolftpd-no-such-user\": no such user on this system"));
  EXPECT_EQ(EnvError("Group poolftpd-no-such-group\n", true),
            At(1, "Group \"poolftpd-no-such-group\": no such group on this system"));
  // The built-in nobody/nogroup (present on Debian) pass.
  EXPECT_EQ(EnvError("Port 2121\n", true), "");
  // With <Anonymous>, the server-level ones are not used for workers.
  fs::create_directories(Path("tree"));
  EXPECT_EQ(EnvError("User poolftpd-no-such-user\n<Anonymous " + Path("tree") +
                         ">\nUser nobody\nGroup nogroup\n</Anonymous>\n",
                     true),
            "");
}

TEST_F(EnvironmentTest, AnonymousRootMustBeADirectory) {
  const std::string missing = Path("missing");
  const std::string block = "  User nobody\n  Group nogroup\n</Anonymous>\n";
  for (bool as_root : {true, false}) {
    EXPECT_EQ(EnvError("Port 21\n<Anonymous " + missing + ">\n" + block, as_root),
              At(2, "<Anonymous " + missing + ">: the directory does not exist"));
    const std::string file = Write("plain", "x");
    EXPECT_EQ(EnvError("<Anonymous " + file + ">\n" + block, as_root),
              At(1, "<Anonymous " + file + ">: not a directory"));
  }
  // In an included file: that file's name and line.
  const std::string inc = Write("anon.conf", "\n\n<Anonymous " + missing + ">\n" + block);
  EXPECT_EQ(EnvError("Include " + inc + "\n", false),
            inc + ":3: <Anonymous " + missing + ">: the directory does not exist");
}

TEST(VerbRegistryTest, FindVerbFindsEveryEntryAndNothingElse) {
  for (const Verb& v : Verbs()) {
    EXPECT_EQ(FindVerb(v.name), &v) << v.name;
    // A prefix is found only as a verb of its own (CDUP's "CDU" is none).
    const std::string_view prefix = v.name.substr(0, v.name.size() - 1);
    if (const Verb* p = FindVerb(prefix)) {
      EXPECT_EQ(p->name, prefix);
    }
    EXPECT_EQ(FindVerb(std::string(v.name) + "X"), nullptr) << v.name;
    EXPECT_EQ(FindVerb(std::string(v.name) + std::string(1, '\0')), nullptr) << v.name;
  }
  EXPECT_EQ(FindVerb(""), nullptr);
  EXPECT_EQ(FindVerb("retr"), nullptr);
  EXPECT_EQ(FindVerb("SITE_CHMO"), nullptr);
  EXPECT_EQ(FindVerb("SITE_CHMODE"), nullptr);
  ASSERT_NE(FindVerb("SITE_CHMOD"), nullptr);
  ASSERT_NE(FindVerb("SITE_CHGRP"), nullptr);
  EXPECT_NE(FindVerb("SITE_CHMOD"), FindVerb("SITE_CHGRP"));
}

}  // namespace
}  // namespace poolftpd::config
