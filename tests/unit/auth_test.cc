// Unit tests for auth: anonymous names through UserAlias, login decisions
// (<Limit LOGIN> in the <Anonymous> block and at server level), and the
// <Limit> precedence for commands (ProFTPD: raw verb > command group > ALL,
// the nearest context first: <Directory>, <Anonymous>, the server), plus the
// registry's write verbs that the read-only gate refuses.
#include "poolftpd/auth/auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "poolftpd/config/config.h"

namespace poolftpd::auth {
namespace {

net::IpAddress Ip(std::string_view s) { return net::IpAddress::Parse(s).value(); }

const net::IpAddress kLocal = Ip("127.0.0.1");
const net::IpAddress kOther = Ip("10.1.2.3");

// Builds a config from `server` (server-level lines) and `anon` (lines inside
// the <Anonymous> block; no block at all when `with_anon` is false).
std::shared_ptr<const config::Config> Make(const std::string& server, const std::string& anon,
                                           bool with_anon = true) {
  std::string text = "ServerName \"auth test\"\n" + server + "\n";
  if (with_anon) {
    text += "<Anonymous /srv/ftp>\n  User ftp\n  Group ftp\n  UserAlias anonymous ftp\n" + anon +
            "\n</Anonymous>\n";
  }
  auto r = config::LoadFromString(text, "auth_test.conf", {});
  EXPECT_TRUE(r) << r.error().message() << "\n" << text;
  if (!r) return std::make_shared<config::Config>();
  return *r;
}

bool Allowed(const config::Config& cfg, std::string_view verb, const net::IpAddress& ip = kLocal,
             bool anon = true) {
  const config::Anonymous* a = anon && cfg.anonymous ? &*cfg.anonymous : nullptr;
  return CommandAllowed(config::BasePolicy(cfg, a), verb, ip);
}

// ---------------------------------------------------------------------------
// IsAnonymousName

TEST(IsAnonymousNameTest, UserAndAliasAreAnonymous) {
  auto cfg = Make("", "");
  EXPECT_TRUE(IsAnonymousName(*cfg, "ftp"));
  EXPECT_TRUE(IsAnonymousName(*cfg, "anonymous"));
  EXPECT_FALSE(IsAnonymousName(*cfg, "bob"));
  EXPECT_FALSE(IsAnonymousName(*cfg, ""));
  EXPECT_FALSE(IsAnonymousName(*cfg, "anonymous "));
  EXPECT_FALSE(IsAnonymousName(*cfg, "ftp\n"));
}

TEST(IsAnonymousNameTest, ServerLevelAliasAlsoCounts) {
  auto cfg = config::LoadFromString(
      "UserAlias guest ftp\n<Anonymous /srv/ftp>\n User ftp\n Group ftp\n</Anonymous>\n", "t.conf",
      {});
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(IsAnonymousName(**cfg, "guest"));
  EXPECT_TRUE(IsAnonymousName(**cfg, "ftp"));
  EXPECT_FALSE(IsAnonymousName(**cfg, "anonymous"));
}

TEST(IsAnonymousNameTest, AliasToAnotherAccountIsNotAnonymous) {
  auto cfg = Make("UserAlias webmaster www", "");
  EXPECT_FALSE(IsAnonymousName(*cfg, "webmaster"));
}

TEST(IsAnonymousNameTest, NoAnonymousBlock) {
  auto cfg = Make("UserAlias anonymous ftp", "", false);
  EXPECT_FALSE(IsAnonymousName(*cfg, "ftp"));
  EXPECT_FALSE(IsAnonymousName(*cfg, "anonymous"));
}

// ---------------------------------------------------------------------------
// CheckLogin

TEST(CheckLoginTest, AnonymousThroughAlias) {
  auto cfg = Make("", "");
  const LoginDecision d = CheckLogin(*cfg, "anonymous", kLocal);
  EXPECT_EQ(d.result, LoginResult::kAnonymous);
  ASSERT_NE(d.anonymous, nullptr);
  EXPECT_EQ(d.anonymous, &*cfg->anonymous);
  EXPECT_EQ(d.anonymous->root, "/srv/ftp");
  EXPECT_EQ(cfg->ResolveUserAlias("anonymous"), "ftp");

  const LoginDecision direct = CheckLogin(*cfg, "ftp", kLocal);
  EXPECT_EQ(direct.result, LoginResult::kAnonymous);
  EXPECT_EQ(cfg->ResolveUserAlias("ftp"), "ftp");
}

TEST(CheckLoginTest, UnknownUser) {
  auto cfg = Make("", "");
  const LoginDecision d = CheckLogin(*cfg, "bob", kLocal);
  EXPECT_EQ(d.result, LoginResult::kNoSuchUser);
  EXPECT_EQ(d.anonymous, nullptr);
  EXPECT_EQ(CheckLogin(*cfg, "", kLocal).result, LoginResult::kNoSuchUser);
  EXPECT_EQ(CheckLogin(*cfg, "root", kLocal).result, LoginResult::kNoSuchUser);
}

TEST(CheckLoginTest, NoAnonymousBlockMeansNoSuchUser) {
  auto cfg = Make("", "", false);
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kNoSuchUser);
  EXPECT_EQ(CheckLogin(*cfg, "ftp", kLocal).result, LoginResult::kNoSuchUser);
}

TEST(CheckLoginTest, LimitLoginDenyAllInAnonymous) {
  auto cfg = Make("", "<Limit LOGIN>\n DenyAll\n</Limit>");
  const LoginDecision d = CheckLogin(*cfg, "anonymous", kLocal);
  EXPECT_EQ(d.result, LoginResult::kLimitDenied);
  // A name that is not anonymous at all is still "no such user".
  EXPECT_EQ(CheckLogin(*cfg, "bob", kLocal).result, LoginResult::kNoSuchUser);
}

TEST(CheckLoginTest, LimitLoginDenyFromAddress) {
  auto cfg = Make("", "<Limit LOGIN>\n Deny from 127.0.0.1\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kLimitDenied);
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kOther).result, LoginResult::kAnonymous);
  // The IPv4-mapped form of the same client is the same client.
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", Ip("::ffff:127.0.0.1")).result,
            LoginResult::kLimitDenied);
}

TEST(CheckLoginTest, LimitLoginDenyFromNetworkForms) {
  auto cfg = Make("", "<Limit LOGIN>\n Deny from 127.0.0.0/8, 10.1.\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "ftp", Ip("127.9.9.9")).result, LoginResult::kLimitDenied);
  EXPECT_EQ(CheckLogin(*cfg, "ftp", kOther).result, LoginResult::kLimitDenied);
  EXPECT_EQ(CheckLogin(*cfg, "ftp", Ip("10.2.0.1")).result, LoginResult::kAnonymous);
  EXPECT_EQ(CheckLogin(*cfg, "ftp", Ip("::1")).result, LoginResult::kAnonymous);
}

TEST(CheckLoginTest, OrderDenyAllowAdmitsOnlyAllowed) {
  auto cfg = Make("", "<Limit LOGIN>\n Order deny,allow\n Allow from 127.0.0.1\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kAnonymous);
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kOther).result, LoginResult::kLimitDenied);
}

TEST(CheckLoginTest, AllowBeforeDenyAllAdmitsOnlyAllowed) {
  auto cfg = Make("", "<Limit LOGIN>\n Allow from 10.0.0.0/8\n DenyAll\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kOther).result, LoginResult::kAnonymous);
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kLimitDenied);
}

TEST(CheckLoginTest, ServerLevelLimitLoginApplies) {
  auto cfg = Make("<Limit LOGIN>\n DenyAll\n</Limit>", "");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kLimitDenied);
}

TEST(CheckLoginTest, AnonymousLimitLoginOverridesServer) {
  // ProFTPD's "anonymous only" recipe (doc/howto/Limit.html).
  auto cfg = Make("<Limit LOGIN>\n DenyAll\n</Limit>", "<Limit LOGIN>\n AllowAll\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kAnonymous);
}

TEST(CheckLoginTest, LimitAllDoesNotCoverLogin) {
  auto cfg = Make("<Limit ALL>\n DenyAll\n</Limit>", "<Limit ALL>\n DenyAll\n</Limit>");
  EXPECT_EQ(CheckLogin(*cfg, "anonymous", kLocal).result, LoginResult::kAnonymous);
  EXPECT_FALSE(Allowed(*cfg, "RETR"));
}

// ---------------------------------------------------------------------------
// CommandAllowed

TEST(CommandAllowedTest, NoLimitsAllowsEverything) {
  auto cfg = Make("", "");
  for (const char* v : {"RETR", "LIST", "CWD", "STOR", "SITE", "NOOP"}) {
    EXPECT_TRUE(Allowed(*cfg, v)) << v;
    EXPECT_TRUE(Allowed(*cfg, v, kLocal, false)) << v;
  }
}

TEST(CommandAllowedTest, DirectVerbLimit) {
  auto cfg = Make("", "<Limit RETR>\n DenyAll\n</Limit>");
  EXPECT_FALSE(Allowed(*cfg, "RETR"));
  EXPECT_FALSE(Allowed(*cfg, "retr")) << "verbs compare case-insensitively";
  EXPECT_TRUE(Allowed(*cfg, "SIZE"));
  EXPECT_TRUE(Allowed(*cfg, "LIST"));
  // Outside the anonymous session the block does not apply.
  EXPECT_TRUE(Allowed(*cfg, "RETR", kLocal, false));
}

TEST(CommandAllowedTest, GroupLimits) {
  auto cfg = Make("", "<Limit DIRS>\n DenyAll\n</Limit>");
  for (const char* v : {"CWD", "XCWD", "CDUP", "XCUP", "LIST", "NLST", "MLSD", "MLST", "MDTM",
                        "PWD", "XPWD", "STAT"}) {
    EXPECT_FALSE(Allowed(*cfg, v)) << v;
  }
  EXPECT_TRUE(Allowed(*cfg, "RETR"));
  EXPECT_TRUE(Allowed(*cfg, "SIZE"));

  auto read = Make("", "<Limit READ>\n DenyAll\n</Limit>");
  EXPECT_FALSE(Allowed(*read, "RETR"));
  EXPECT_FALSE(Allowed(*read, "SIZE"));
  EXPECT_TRUE(Allowed(*read, "LIST"));
}

TEST(CommandAllowedTest, DenyFromAddressOnly) {
  auto cfg = Make("", "<Limit RETR>\n Deny from 127.0.0.1\n</Limit>");
  EXPECT_FALSE(Allowed(*cfg, "RETR", kLocal));
  EXPECT_TRUE(Allowed(*cfg, "RETR", kOther));
}

TEST(CommandAllowedTest, AnonymousBlockBeforeServer) {
  auto cfg = Make("<Limit RETR>\n DenyAll\n</Limit>", "<Limit RETR>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "RETR"));
  EXPECT_FALSE(Allowed(*cfg, "RETR", kLocal, false));

  auto rev = Make("<Limit RETR>\n AllowAll\n</Limit>", "<Limit RETR>\n DenyAll\n</Limit>");
  EXPECT_FALSE(Allowed(*rev, "RETR"));
  EXPECT_TRUE(Allowed(*rev, "RETR", kLocal, false));
}

TEST(CommandAllowedTest, ServerLimitAppliesWhenAnonymousHasNone) {
  auto cfg = Make("<Limit LIST NLST>\n DenyAll\n</Limit>", "<Limit RETR>\n AllowAll\n</Limit>");
  EXPECT_FALSE(Allowed(*cfg, "LIST"));
  EXPECT_FALSE(Allowed(*cfg, "NLST"));
  EXPECT_TRUE(Allowed(*cfg, "RETR"));
}

TEST(CommandAllowedTest, DirectVerbBeatsGroupWhateverTheOrder) {
  auto group_first =
      Make("", "<Limit READ>\n DenyAll\n</Limit>\n<Limit RETR>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*group_first, "RETR"));
  EXPECT_FALSE(Allowed(*group_first, "SIZE"));

  auto verb_first = Make("", "<Limit RETR>\n AllowAll\n</Limit>\n<Limit READ>\n DenyAll\n</Limit>");
  EXPECT_TRUE(Allowed(*verb_first, "RETR"));
  EXPECT_FALSE(Allowed(*verb_first, "SIZE"));

  auto deny_verb = Make("", "<Limit READ>\n AllowAll\n</Limit>\n<Limit RETR>\n DenyAll\n</Limit>");
  EXPECT_FALSE(Allowed(*deny_verb, "RETR"));
  EXPECT_TRUE(Allowed(*deny_verb, "SIZE"));
}

TEST(CommandAllowedTest, DirectVerbBeatsAll) {
  // ProFTPD's upload-only directory recipe, for the anonymous tree.
  auto cfg = Make("", "<Limit ALL>\n DenyAll\n</Limit>\n<Limit CWD PWD>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "CWD"));
  EXPECT_TRUE(Allowed(*cfg, "PWD"));
  EXPECT_FALSE(Allowed(*cfg, "RETR"));
  EXPECT_FALSE(Allowed(*cfg, "LIST"));
}

TEST(CommandAllowedTest, GroupBeatsAllWhateverTheOrder) {
  // config.h: "the highest rank decides (ProFTPD: raw command > command
  // group > ALL)". ProFTPD's read-only recipe lists the group before ALL;
  // the upload-only recipe lists ALL first. Both must work.
  auto all_first =
      Make("", "<Limit ALL>\n DenyAll\n</Limit>\n<Limit DIRS READ>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*all_first, "CWD")) << "<Limit DIRS> must beat an earlier <Limit ALL>";
  EXPECT_TRUE(Allowed(*all_first, "LIST"));
  EXPECT_TRUE(Allowed(*all_first, "RETR"));
  EXPECT_FALSE(Allowed(*all_first, "NOOP"));

  auto group_first =
      Make("", "<Limit DIRS READ>\n AllowAll\n</Limit>\n<Limit ALL>\n DenyAll\n</Limit>");
  EXPECT_TRUE(Allowed(*group_first, "CWD"));
  EXPECT_TRUE(Allowed(*group_first, "RETR"));
  EXPECT_FALSE(Allowed(*group_first, "NOOP"));
}

TEST(CommandAllowedTest, ImplicitVerdictFallsThroughToLowerRank) {
  // config.h: an implicit verdict (no Allow/Deny line applied to this client)
  // lets a block of lower rank decide; only an explicit one is final. So with
  // "RETR: deny 10/8" and "READ: DenyAll", RETR is denied to everyone.
  auto cfg =
      Make("", "<Limit RETR>\n Deny from 10.0.0.0/8\n</Limit>\n<Limit READ>\n DenyAll\n</Limit>");
  EXPECT_FALSE(Allowed(*cfg, "RETR", kOther));
  EXPECT_FALSE(Allowed(*cfg, "RETR", kLocal))
      << "the RETR block says nothing about 127.0.0.1; <Limit READ> DenyAll must decide";
  EXPECT_FALSE(Allowed(*cfg, "SIZE", kLocal));
}

TEST(CommandAllowedTest, ExplicitAllowIsFinal) {
  auto cfg =
      Make("", "<Limit RETR>\n Allow from 127.0.0.1\n</Limit>\n<Limit READ>\n DenyAll\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "RETR", kLocal));
  EXPECT_FALSE(Allowed(*cfg, "RETR", kOther));
}

TEST(CommandAllowedTest, OrderDenyAllowWithoutMatchDenies) {
  auto cfg = Make("", "<Limit LIST>\n Order deny,allow\n Allow from 10.0.0.0/8\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "LIST", kOther));
  EXPECT_FALSE(Allowed(*cfg, "LIST", kLocal));
}

TEST(CommandAllowedTest, OrderDenyAllowDefaultDenyIsFinal) {
  // ProFTPD (dirtree.c check_limit/check_limits): "Order deny,allow" with no
  // matching line is an implicit *deny*, and check_limits() treats it like
  // an explicit one (res = 0): only implicit *allow* falls through. An
  // operator who wrote "only 10/8 may RETR" must not have that undone by a
  // lower-ranked <Limit ALL> AllowAll.
  auto cfg = Make("",
                  "<Limit RETR>\n Order deny,allow\n Allow from 10.0.0.0/8\n</Limit>\n"
                  "<Limit ALL>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "RETR", kOther));
  EXPECT_FALSE(Allowed(*cfg, "RETR", kLocal));

  auto server = Make("<Limit READ>\n AllowAll\n</Limit>",
                     "<Limit RETR>\n Order deny,allow\n Allow from 10.0.0.0/8\n</Limit>");
  EXPECT_FALSE(Allowed(*server, "RETR", kLocal));
}

TEST(CommandAllowedTest, AllDoesNotCoverDataConnectionSetup) {
  // ProFTPD (dirtree.c dir_check_full) deliberately leaves EPRT, EPSV, PASV
  // and PORT out of ALL, so the classic "<Limit ALL> DenyAll" +
  // "<Limit RETR ...> AllowAll" recipe still lets clients open a data
  // connection for the RETR it allows.
  auto cfg = Make("", "<Limit ALL>\n DenyAll\n</Limit>\n<Limit CWD RETR>\n AllowAll\n</Limit>");
  EXPECT_TRUE(Allowed(*cfg, "RETR"));
  EXPECT_FALSE(Allowed(*cfg, "LIST"));
  EXPECT_FALSE(Allowed(*cfg, "OPTS"));
  for (const char* v : {"PASV", "EPSV", "PORT", "EPRT"}) {
    EXPECT_TRUE(Allowed(*cfg, v)) << v << " is not part of ALL in ProFTPD";
  }
}

// ---------------------------------------------------------------------------
// The registry's write verbs (kWrite: refused by the read-only gate)

bool IsWriteCommand(std::string_view verb) {
  const config::Verb* v = config::FindVerb(verb);
  return v != nullptr && (v->flags & config::kWrite) && !(v->flags & config::kSiteSub);
}

TEST(IsWriteCommandTest, WriteVerbs) {
  for (const char* v :
       {"STOR", "STOU", "APPE", "DELE", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO"}) {
    EXPECT_TRUE(IsWriteCommand(v)) << v;
  }
  // SITE itself is not: SITE HELP reads; the session's SITE dispatcher
  // refuses the write subcommands (SITE_CHMOD, SITE_CHGRP).
  EXPECT_FALSE(IsWriteCommand("SITE"));
  for (const char* v : {"SITE_CHMOD", "SITE_CHGRP"}) {
    ASSERT_NE(config::FindVerb(v), nullptr) << v;
    EXPECT_TRUE(config::FindVerb(v)->flags & config::kWrite) << v;
  }
}

TEST(IsWriteCommandTest, ReadVerbs) {
  for (const char* v :
       {"RETR", "LIST", "NLST", "MLSD", "MLST", "CWD",  "CDUP", "PWD",  "SIZE", "MDTM",  "USER",
        "PASS", "QUIT", "NOOP", "REST", "TYPE", "PASV", "PORT", "ABOR", "",     "STORE", "STO"}) {
    EXPECT_FALSE(IsWriteCommand(v)) << v;
  }
}

}  // namespace
}  // namespace poolftpd::auth
