// Access: the kernel's DAC rule applied to stat data (see access.h).
#include "poolftpd/fs/access.h"

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace poolftpd::fs {

Access::Access(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups, bool dac_override,
               bool dac_read_search)
    : uid_(uid),
      gid_(gid),
      groups_(std::move(groups)),
      dac_override_(dac_override),
      dac_read_search_(dac_read_search) {
  std::sort(groups_.begin(), groups_.end());
}

Access Access::OfProcess() {
  std::vector<uint32_t> groups;
  const int n = ::getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> g(static_cast<size_t>(n));
    const int got = ::getgroups(n, g.data());
    for (int i = 0; i < got; ++i)
      groups.push_back(static_cast<uint32_t>(g[static_cast<size_t>(i)]));
  }
  // capget directly: fs does not link libcap. A failure means no capability.
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  bool override_cap = false, read_search_cap = false;
  if (::syscall(SYS_capget, &hdr, data) == 0) {
    override_cap = (data[0].effective >> CAP_DAC_OVERRIDE) & 1u;
    read_search_cap = (data[0].effective >> CAP_DAC_READ_SEARCH) & 1u;
  }
  return Access(static_cast<uint32_t>(::geteuid()), static_cast<uint32_t>(::getegid()),
                std::move(groups), override_cap, read_search_cap);
}

bool Access::InGroup(uint32_t gid) const {
  return gid == gid_ || std::binary_search(groups_.begin(), groups_.end(), gid);
}

bool Access::Allows(uint32_t mode, uint32_t uid, uint32_t gid, unsigned want) const {
  want &= 7;
  // The owner class alone decides for the owner, even when group or other
  // would grant more (as the kernel does).
  const unsigned bits = uid == uid_ ? (mode >> 6) & 7 : InGroup(gid) ? (mode >> 3) & 7 : mode & 7;
  if ((bits & want) == want) return true;
  const bool dir = S_ISDIR(mode);
  if (dir) {
    if (!(want & kWrite) && dac_read_search_) return true;
    return dac_override_;
  }
  if (want == kRead && dac_read_search_) return true;
  // Execute is overridable only when some execute bit is set.
  return dac_override_ && (!(want & kExec) || (mode & 0111) != 0);
}

char* Access::PermLetters(uint32_t mode, uint32_t uid, uint32_t gid, char* out) const {
  if (S_ISDIR(mode)) {
    if (Allows(mode, uid, gid, kExec)) *out++ = 'e';
    if (Allows(mode, uid, gid, kRead | kExec)) *out++ = 'l';
  } else if (S_ISREG(mode)) {
    if (Allows(mode, uid, gid, kRead)) *out++ = 'r';
  }
  return out;
}

}  // namespace poolftpd::fs
