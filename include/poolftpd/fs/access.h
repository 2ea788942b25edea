// What this process may do to a file, computed from stat data: the perm fact
// of MLSD/MLST. A listing of 100,000 entries must not cost a faccessat per
// name, so the credentials are read once (Access::OfProcess: effective uid
// and gid, supplementary groups, the DAC capabilities) and each entry is
// checked with the kernel's DAC rule (generic_permission) on its mode, uid
// and gid. Worker process only; the worker runs as the session user after
// its privilege drop, so "this process" is the session.
//
// Not consulted: POSIX ACLs (with an ACL the group bits of the mode are the
// ACL mask, so a named-user or named-group entry can grant or deny what the
// mode alone does not), LSMs, read-only mounts and idmapped mounts. The
// answer is advisory; CWD and RETR still ask the kernel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace poolftpd::fs {

class Access {
 public:
  // Permission bits as in a mode: read, write, execute/search.
  enum Want : unsigned { kRead = 4, kWrite = 2, kExec = 1 };

  Access() = default;
  // Explicit credentials (tests, and a future privileged helper).
  Access(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups, bool dac_override,
         bool dac_read_search);
  // The calling process: geteuid, getegid, getgroups and the effective
  // capability set (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). A few system
  // calls; call once per listing, not per entry.
  static Access OfProcess();

  // The kernel's answer for an inode of `mode`/`uid`/`gid`, for every bit
  // of `want` at once: the owner class if uid matches (and only it), else the
  // group class if gid is ours, else other; then CAP_DAC_READ_SEARCH (read
  // anything, search directories) and CAP_DAC_OVERRIDE (anything on a
  // directory; read and write on others, execute if some x bit is set).
  bool Allows(uint32_t mode, uint32_t uid, uint32_t gid, unsigned want) const;

  // The RFC 3659 perm letters a read-only session has: a directory gets
  // 'e' when it may be searched (CWD) and 'l' when it may be read and
  // searched (LIST/MLSD open it and stat its entries); a file gets 'r' when
  // it may be read (RETR). Other types get none. Writes `out` (room for 4
  // bytes) and returns the end.
  // Issue 12 (uploads): add the write letters here ('a','w' for files;
  // 'c','m','p','d','f' for directories) from Allows(..., kWrite) of the
  // entry and its directory, once the session may write at all.
  char* PermLetters(uint32_t mode, uint32_t uid, uint32_t gid, char* out) const;

  uint32_t uid() const { return uid_; }
  uint32_t gid() const { return gid_; }

 private:
  bool InGroup(uint32_t gid) const;

  uint32_t uid_ = static_cast<uint32_t>(-1);
  uint32_t gid_ = static_cast<uint32_t>(-1);
  std::vector<uint32_t> groups_;  // supplementary, sorted
  bool dac_override_ = false;
  bool dac_read_search_ = false;
};

}  // namespace poolftpd::fs
