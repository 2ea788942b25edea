#include "poolftpd/config/config.h"

#include <algorithm>
#include <utility>

#include "parser.h"
#include "text.h"

namespace poolftpd::config {
namespace {

// Whether group `group` (upper case) covers `verb` (upper case): by the
// verb registry's group of the verb.
bool GroupCovers(std::string_view group, std::string_view verb) {
  const VerbGroup g = GroupNamed(group);
  if (g == VerbGroup::kNone || g == VerbGroup::kLogin) return false;
  const Verb* v = FindVerb(verb);
  return v != nullptr && v->group == g;
}

// One Allow or Deny line against `addr`: "all" matches everyone, "none" no
// one, otherwise any listed network (several lines of a kind are OR'ed).
bool RuleMatches(const AccessRule& rule, const net::IpAddress& addr) {
  if (rule.none) return false;
  if (rule.all) return true;
  return std::any_of(rule.networks.begin(), rule.networks.end(),
                     [&](const net::Cidr& c) { return c.Contains(addr); });
}

Result<std::shared_ptr<const Config>> Finish(internal::Parser& parser, const std::string& source) {
  auto config = parser.Finish();
  if (!config) return config.error();
  config->source_file = source;
  return std::shared_ptr<const Config>(std::make_shared<Config>(std::move(*config)));
}

}  // namespace

LimitMatch Limit::Match(std::string_view verb) const {
  const std::string v = internal::AsciiUpperCopy(verb);
  LimitMatch best = LimitMatch::kNone;
  for (const auto& c : commands) {
    if (c == v) return LimitMatch::kDirect;  // LOGIN too: the group is the verb
    if (GroupCovers(c, v)) {
      best = LimitMatch::kGroup;
    } else if (c == "ALL" && v != "LOGIN" && best == LimitMatch::kNone) {
      best = LimitMatch::kAll;
    }
  }
  return best;
}

// ProFTPD semantics (mod_core Order; dirtree.c check_limit()). The "allow
// side" is AllowAll or any Allow line matching the client; the "deny side"
// is DenyAll or any Deny line matching it. Unlike Apache:
//   Order allow,deny (default): allow side -> explicit allow; else deny side
//     -> explicit deny; else implicit allow.
//   Order deny,allow: deny side -> explicit deny; else allow side -> explicit
//     allow; else implicit deny.
// So "Order allow,deny / Allow from 10.0.0.0/8 / DenyAll" admits only 10/8,
// and "Order deny,allow / Allow from 10.0.0.0/8" also admits only 10/8.
LimitVerdict Limit::Evaluate(const net::IpAddress& addr) const {
  bool allow_side = allow_all;
  bool deny_side = deny_all;
  for (const auto& rule : rules) {
    if (!RuleMatches(rule, addr)) continue;
    if (rule.allow) {
      allow_side = true;
    } else {
      deny_side = true;
    }
  }
  if (order_deny_first) {
    if (deny_side) return LimitVerdict::kExplicitDeny;
    if (allow_side) return LimitVerdict::kExplicitAllow;
    return LimitVerdict::kImplicitDeny;
  }
  if (allow_side) return LimitVerdict::kExplicitAllow;
  if (deny_side) return LimitVerdict::kExplicitDeny;
  return LimitVerdict::kImplicitAllow;
}

std::vector<ListenerSpec> Listeners(const Config& cfg) {
  std::vector<ListenerSpec> out;
  if (cfg.default_addresses.empty()) {
    ListenerSpec any;
    any.endpoint.addr = *net::IpAddress::Parse("::");
    any.endpoint.port = cfg.port;
    any.dual_stack = true;
    out.push_back(any);
    return out;
  }
  for (const auto& a : cfg.default_addresses) {
    ListenerSpec l;
    l.endpoint = net::Endpoint{a, cfg.port};
    out.push_back(l);
  }
  return out;
}

std::string_view Config::ResolveUserAlias(std::string_view login_name) const {
  for (const auto& a : user_aliases)
    if (a.alias == login_name) return a.user;
  return login_name;
}

const Anonymous* Config::FindAnonymous(std::string_view login_name) const {
  if (!anonymous) return nullptr;
  return ResolveUserAlias(login_name) == anonymous->user ? &*anonymous : nullptr;
}

Result<std::shared_ptr<const Config>> Load(const std::string& path,
                                           const std::vector<std::string>& defines,
                                           Config* partial) {
  internal::Parser parser(defines);
  auto r = parser.ParseTopFile(path);
  if (!r) {
    if (partial != nullptr) *partial = parser.TakePartial();
    return r.error();
  }
  auto config = Finish(parser, path);
  if (!config && partial != nullptr) *partial = parser.TakePartial();
  return config;
}

Result<std::shared_ptr<const Config>> LoadFromString(std::string_view text, const std::string& name,
                                                     const std::vector<std::string>& defines) {
  internal::Parser parser(defines);
  auto r = parser.ParseTopText(text, name);
  if (!r) return r.error();
  return Finish(parser, name);
}

}  // namespace poolftpd::config
