#include "jurisdiction.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

namespace homesip::redirect {
namespace {

bool label_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

// True when `host` is "<prefix>.<rest>" (case-insensitive); `rest` gets the tail.
bool strip_domain_prefix(std::string_view host, std::string_view prefix, std::string_view& rest) {
  if (host.size() <= prefix.size() + 1 || host[prefix.size()] != '.') return false;
  if (!iequals(host.substr(0, prefix.size()), prefix)) return false;
  rest = host.substr(prefix.size() + 1);
  return true;
}

}  // namespace

bool valid_label(std::string_view label) {
  return !label.empty() && std::all_of(label.begin(), label.end(), [](char c) { return label_char(c); });
}

bool valid_domain(std::string_view domain) {
  while (true) {
    const auto dot = domain.find('.');
    if (!valid_label(domain.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    domain.remove_prefix(dot + 1);
  }
}

Jurisdiction classify(const ServerIdentity& me, const UriView& uri) {
  return classify(me, uri.user, uri.host);
}

Jurisdiction classify(const ServerIdentity& me, std::string_view aor) {
  const std::string text = "sip:" + std::string(aor);  // the views point into it
  const std::optional<UriView> uri = parse_uri(text);
  // An AOR is only user@host: a password, a port or parameters make it no tree name.
  if (!uri || uri->user.empty() || !uri->port.empty() || !uri->params.empty() || !uri->headers.empty() ||
      aor_of(*uri) != aor)
    return {};
  return classify(me, *uri);
}

Jurisdiction classify(const ServerIdentity& me, std::string_view user, std::string_view host) {
  // A user part may have dots: an appliance's entity id (light.kitchen@C1.D1.H1) is routed as a user.
  if (!valid_domain(user) || !valid_domain(host)) return {};

  const std::string mine = me.child_domain();
  if (iequals(host, mine)) return {Relation::kDirectChild, {}};
  std::string_view below;
  if (strip_domain_prefix(host, mine, below)) {
    const std::string_view child = below.substr(0, below.find('.'));
    return {Relation::kInSubtree, std::string(child) + "@" + mine};
  }
  // Only now: a server's own AOR is also the direct child of its parent, so
  // "H1@C1.D1" at D1 is D1's child, and at H1 it is H1 itself.
  if (iequals(user, me.name) && iequals(host, me.domain)) return {Relation::kSelf, {}};
  return {Relation::kNotMine, {}};
}

const char* relation_name(Relation relation) {
  switch (relation) {
    case Relation::kSelf:
      return "self";
    case Relation::kDirectChild:
      return "direct child";
    case Relation::kInSubtree:
      return "in subtree";
    case Relation::kNotMine:
      return "not mine";
    case Relation::kInvalid:
      return "invalid";
  }
  return "?";
}

}  // namespace homesip::redirect
