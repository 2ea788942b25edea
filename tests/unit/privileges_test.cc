// The privilege stages (privileges.h) in forked children: what each stage
// leaves (ids, root, every capability set, no_new_privs) and how a failed
// uid switch is reported. Credential changes need root; a failed switch is
// provoked in a user namespace with one uid mapped (0 -> 0), where
// setresuid(65534) gets EINVAL. Tests skip when that is not possible.
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "poolftpd/worker/privileges.h"

namespace poolftpd::worker {
namespace {

constexpr uid_t kNobody = 65534;
constexpr uid_t kUser = 65533;

bool IsRoot() { return ::geteuid() == 0; }

// Runs `body` in a forked child and returns what it returned ("" = passed),
// or a description of how the child died. `userns`: the child first enters a
// new user and mount namespace whose uid_map is the single line "0 0 1" (gid
// map 0-65535), written by this (root) process.
std::string InChild(const std::function<std::string()>& body, bool userns = false) {
  int out[2], go[2];
  if (::pipe(out) != 0 || ::pipe(go) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(out[0]);
    ::close(go[1]);
    std::string msg;
    if (userns) {
      if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        msg = std::string("SKIP unshare: ") + std::strerror(errno);
      (void)!::write(out[1], "u", 1);
      char c;
      if (::read(go[0], &c, 1) != 1 || c != 'g') msg = "SKIP maps not written";
    }
    if (msg.empty()) msg = body();
    (void)!::write(out[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(out[1]);
  ::close(go[0]);
  std::string got;
  char buf[512];
  if (userns) {
    char c;
    if (::read(out[0], &c, 1) == 1) {
      const std::string proc = "/proc/" + std::to_string(pid) + "/";
      auto put = [&](const char* file, const char* text) {
        const int fd = ::open((proc + file).c_str(), O_WRONLY);
        const bool ok = fd >= 0 && ::write(fd, text, std::strlen(text)) ==
                                       static_cast<ssize_t>(std::strlen(text));
        if (fd >= 0) ::close(fd);
        return ok;
      };
      const bool ok = put("uid_map", "0 0 1\n") && put("gid_map", "0 0 65536\n");
      (void)!::write(go[1], ok ? "g" : "x", 1);
    }
  }
  ::close(go[1]);
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "child died, status " + std::to_string(status) + got;
  return got;
}

#define RUN_IN_CHILD(...)                             \
  do {                                                \
    const std::string r_ = InChild(__VA_ARGS__);      \
    if (r_.rfind("SKIP", 0) == 0) GTEST_SKIP() << r_; \
    EXPECT_EQ(r_, "");                                \
  } while (0)

// What the process holds now, as text a test compares.
struct Held {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  std::vector<int> permitted, effective, inheritable, bounding, ambient;
  int no_new_privs;
};

Held Now() {
  Held h{};
  ::getresuid(&h.ruid, &h.euid, &h.suid);
  ::getresgid(&h.rgid, &h.egid, &h.sgid);
  cap_t c = ::cap_get_proc();
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    cap_flag_value_t v;
    if (::cap_get_flag(c, cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET) h.permitted.push_back(cap);
    if (::cap_get_flag(c, cap, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET) h.effective.push_back(cap);
    if (::cap_get_flag(c, cap, CAP_INHERITABLE, &v) == 0 && v == CAP_SET)
      h.inheritable.push_back(cap);
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) h.bounding.push_back(cap);
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) h.ambient.push_back(cap);
  }
  ::cap_free(c);
  h.no_new_privs = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  return h;
}

std::string Caps(const std::vector<int>& v) {
  std::string s;
  for (int c : v) s += (s.empty() ? "" : ",") + std::to_string(c);
  return "[" + s + "]";
}

// "" when the process is `uid`/`gid` with exactly `caps` in the permitted,
// effective and bounding sets (bounding: `bounding`), nothing inheritable or
// ambient, and no_new_privs == `nnp`.
std::string Expect(uid_t uid, gid_t gid, const std::vector<int>& caps,
                   const std::vector<int>& bounding, int nnp) {
  const Held h = Now();
  std::string bad;
  if (h.ruid != uid || h.euid != uid || h.suid != uid)
    bad += "uid " + std::to_string(h.euid) + "; ";
  if (h.rgid != gid || h.egid != gid || h.sgid != gid)
    bad += "gid " + std::to_string(h.egid) + "; ";
  if (h.permitted != caps) bad += "permitted " + Caps(h.permitted) + "; ";
  if (h.effective != caps) bad += "effective " + Caps(h.effective) + "; ";
  if (!h.inheritable.empty()) bad += "inheritable " + Caps(h.inheritable) + "; ";
  if (h.bounding != bounding) bad += "bounding " + Caps(h.bounding) + "; ";
  if (!h.ambient.empty()) bad += "ambient " + Caps(h.ambient) + "; ";
  if (h.no_new_privs != nnp) bad += "no_new_privs " + std::to_string(h.no_new_privs) + "; ";
  return bad;
}

// A directory with a marker file, to see a chroot happened.
class Jail {
 public:
  Jail() {
    char tmpl[] = "/tmp/privileges_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0755);
    std::filesystem::create_directory(dir_ / "inside");
  }
  ~Jail() { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

std::string InJail() { return ::access("/inside", F_OK) == 0 ? "" : "not in the chroot; "; }

Identity Anonymous(const std::string& root) {
  Identity id;
  id.switch_user = true;
  id.uid = kNobody;
  id.gid = kNobody;
  id.chroot_dir = root;
  return id;
}

Identity RealUsers(bool bind_data_port = false) {
  Identity id;
  id.switch_user = true;
  id.uid = kNobody;
  id.gid = kNobody;
  id.model = PrivilegeModel::kRealUsers;
  id.bind_data_port = bind_data_port;
  return id;
}

TEST(Privileges, BeforeAcceptCapabilitiesFollowTheModel) {
  Identity anon = Anonymous("/srv");
  EXPECT_TRUE(BeforeAcceptCapabilities(anon).empty());
  EXPECT_EQ(BeforeAcceptCapabilities(RealUsers()),
            (std::vector<int>{CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT}));
  EXPECT_EQ(BeforeAcceptCapabilities(RealUsers(true)),
            (std::vector<int>{CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT}));
  Identity unprivileged = RealUsers(true);
  unprivileged.switch_user = false;  // a non-root start holds nothing to keep
  EXPECT_TRUE(BeforeAcceptCapabilities(unprivileged).empty());
}

TEST(Privileges, AnonymousBeforeAcceptIsTheFullDrop) {
  if (!IsRoot()) GTEST_SKIP() << "needs root";
  Jail jail;
  RUN_IN_CHILD([&] {
    const Identity id = Anonymous(jail.path());
    if (auto r = EnterBeforeAccept(id); !r) return r.error().message();
    std::string bad = InJail() + Expect(kNobody, kNobody, {}, {}, 1);
    if (::setuid(0) == 0) bad += "setuid(0) worked; ";
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) bad += "dumpable; ";
    gid_t groups[4];
    if (::getgroups(4, groups) != 1 || groups[0] != kNobody) bad += "supplementary groups; ";
    // The after-login stage has nothing left to do: same state after it.
    LoginIdentity user;
    user.uid = kUser;
    user.gid = kUser;
    if (auto r = EnterAfterLogin(id, user); !r) bad += "after login: " + r.error().message();
    bad += Expect(kNobody, kNobody, {}, {}, 1);
    return bad;
  });
}

TEST(Privileges, RealUsersBeforeAcceptKeepsOnlyWhatLoginNeeds) {
  if (!IsRoot()) GTEST_SKIP() << "needs root";
  for (bool bind : {false, true}) {
    RUN_IN_CHILD([&] {
      const Identity id = RealUsers(bind);
      if (auto r = EnterBeforeAccept(id); !r) return r.error().message();
      const std::vector<int> keep = BeforeAcceptCapabilities(id);
      // no_new_privs waits for the login (a PAM helper may need to exec).
      std::string bad = Expect(kNobody, kNobody, keep, keep, 0);
      if (::prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0) bad += "keepcaps left on; ";
      if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) bad += "dumpable; ";
      return bad;
    });
  }
}

TEST(Privileges, RealUsersAfterLoginBecomesTheUserWithNothing) {
  if (!IsRoot()) GTEST_SKIP() << "needs root";
#if defined(__SANITIZE_THREAD__)
  // The stages assume a single-threaded process (a worker is one). TSan
  // adds a background thread, which keeps the capabilities it was born
  // with when capset(2) narrows the main thread's; glibc then aborts the
  // process when setgroups(2) fails in that thread only.
  GTEST_SKIP() << "ThreadSanitizer's background thread breaks the single-thread assumption";
#endif
  Jail jail;
  RUN_IN_CHILD([&] {
    const Identity id = RealUsers(true);
    if (auto r = EnterBeforeAccept(id); !r) return "before accept: " + r.error().message();
    LoginIdentity user;
    user.uid = kUser;
    user.gid = kUser;
    user.groups = {kUser, kNobody};
    user.root = jail.path();
    if (auto r = EnterAfterLogin(id, user); !r) return "after login: " + r.error().message();
    // The bounding set keeps what the before-accept stage left (emptying it
    // needs CAP_SETPCAP); with no_new_privs and empty sets nothing regains it.
    std::string bad = InJail() + Expect(kUser, kUser, {}, BeforeAcceptCapabilities(id), 1);
    if (::setuid(0) == 0) bad += "setuid(0) worked; ";
    if (::setuid(kNobody) == 0) bad += "setuid(nobody) worked; ";
    gid_t groups[4];
    const int n = ::getgroups(4, groups);
    if (n != 2 || groups[0] != kUser || groups[1] != kNobody) bad += "supplementary groups; ";
    return bad;
  });
}

TEST(Privileges, RealUsersAfterLoginRefusesRoot) {
  if (!IsRoot()) GTEST_SKIP() << "needs root";
  RUN_IN_CHILD([&] {
    const Identity id = RealUsers();
    if (auto r = EnterBeforeAccept(id); !r) return "before accept: " + r.error().message();
    LoginIdentity root_user;  // uid 0
    auto r = EnterAfterLogin(id, root_user);
    if (r) return std::string("a login as uid 0 was accepted");
    return Expect(kNobody, kNobody, BeforeAcceptCapabilities(id), BeforeAcceptCapabilities(id), 0);
  });
}

TEST(Privileges, BeforeAcceptRefusesARootIdentityForRealUsers) {
  Identity id = RealUsers();
  id.uid = 0;
  RUN_IN_CHILD([&] {
    auto r = EnterBeforeAccept(id);
    return r ? std::string("accepted uid 0") : std::string();
  });
}

TEST(Privileges, NonRootStartChangesNoIdsAndDropsCapabilities) {
  if (!IsRoot()) GTEST_SKIP() << "needs root to become an unprivileged uid first";
  for (PrivilegeModel model : {PrivilegeModel::kAnonymousOnly, PrivilegeModel::kRealUsers}) {
    RUN_IN_CHILD([&] {
      if (::setresgid(kUser, kUser, kUser) != 0 || ::setresuid(kUser, kUser, kUser) != 0)
        return std::string("setup");
      Identity id;  // what the master resolves when not root
      id.model = model;
      if (auto r = EnterBeforeAccept(id); !r) return r.error().message();
      const std::vector<int> all = Now().bounding;  // untouched: no CAP_SETPCAP
      const int nnp_before = model == PrivilegeModel::kAnonymousOnly ? 1 : 0;
      std::string bad = Expect(kUser, kUser, {}, all, nnp_before);
      LoginIdentity user;
      user.uid = kNobody;  // ignored: no switch without root
      user.gid = kNobody;
      if (auto r = EnterAfterLogin(id, user); !r) return "after login: " + r.error().message();
      return bad + Expect(kUser, kUser, {}, all, 1);
    });
  }
}

// ---- failure paths: a uid the kernel cannot switch to ----

TEST(Privileges, AnonymousDropFailsWhenTheUidCannotBeMapped) {
  if (!IsRoot()) GTEST_SKIP() << "writing a uid_map for another process needs root";
  RUN_IN_CHILD(
      [] {
        Identity id = Anonymous("");  // chroot would work here too; keep the failure on the uid
        auto r = EnterBeforeAccept(id);
        if (r) return std::string("the drop succeeded with uid 65534 unmapped");
        std::string bad;
        if (r.error().sys_errno() != EINVAL)
          bad += "errno " + std::to_string(r.error().sys_errno()) + "; ";
        if (r.error().message().find("setresuid(65534) failed") == std::string::npos)
          bad += "message: " + r.error().message() + "; ";
        // The gid changed, the uid did not: a state between stages that the
        // caller ends with kFatal (worker.cc), never serving from it.
        uid_t ru, eu, su;
        ::getresuid(&ru, &eu, &su);
        if (eu != 0) bad += "uid changed; ";
        return bad;
      },
      /*userns=*/true);
}

TEST(Privileges, RealUsersStagesFailWhenTheUidCannotBeMapped) {
  if (!IsRoot()) GTEST_SKIP() << "writing a uid_map for another process needs root";
  RUN_IN_CHILD(
      [] {
        auto r = EnterBeforeAccept(RealUsers());
        if (r) return std::string("the before-accept stage succeeded with uid 65534 unmapped");
        std::string bad;
        if (r.error().sys_errno() != EINVAL)
          bad += "errno " + std::to_string(r.error().sys_errno()) + "; ";
        if (r.error().message().find("setresuid(65534) failed") == std::string::npos)
          bad += "message: " + r.error().message() + "; ";
        if (::prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0) bad += "keepcaps left on; ";
        return bad;
      },
      /*userns=*/true);
}

TEST(Privileges, AfterLoginFailureIsReported) {
  if (!IsRoot()) GTEST_SKIP() << "writing a uid_map for another process needs root";
  RUN_IN_CHILD(
      [] {
        // Before accept as uid 0 of the namespace cannot be set up (uid 0 is
        // refused), so the after-login stage runs from the namespace's root
        // with capabilities: the switch to an unmapped user fails.
        Identity id = RealUsers();
        LoginIdentity user;
        user.uid = kUser;
        user.gid = kUser;
        auto r = EnterAfterLogin(id, user);
        if (r) return std::string("the after-login stage succeeded with uid 65533 unmapped");
        std::string bad;
        if (r.error().sys_errno() != EINVAL)
          bad += "errno " + std::to_string(r.error().sys_errno()) + "; ";
        if (r.error().message().find("setresuid(65533) failed") == std::string::npos)
          bad += "message: " + r.error().message() + "; ";
        return bad;
      },
      /*userns=*/true);
}

}  // namespace
}  // namespace poolftpd::worker
