#include "redirects.hpp"

#include <algorithm>
#include <cctype>

namespace homesip::ua {
namespace {

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Position just after "sip:" / "sips:", or npos.
size_t after_scheme(const std::string& uri) {
  const auto colon = uri.find(':');
  return colon == std::string::npos ? std::string::npos : colon + 1;
}

}  // namespace

RedirectChain::RedirectChain(std::string first, int max_redirects, std::vector<std::string> tree_labels)
    : max_(max_redirects), labels_(std::move(tree_labels)) {
  seen_.insert(std::move(first));
}

RedirectChain::Verdict RedirectChain::follow(const std::vector<ContactChoice>& contacts, std::string* next) {
  if (contacts.empty()) return Verdict::kNoContact;
  // stable: the first of equal q wins, as the server ordered them.
  const auto best =
      std::max_element(contacts.begin(), contacts.end(),
                       [](const ContactChoice& a, const ContactChoice& b) { return a.q < b.q; });
  *next = best->uri;
  if (++redirects_ > max_) return Verdict::kTooMany;
  if (!seen_.insert(best->uri).second) return Verdict::kLoop;
  return Verdict::kFollow;
}

bool RedirectChain::is_server_hop(const std::string& uri) const {
  const std::string user = user_of(uri);
  if (user.empty()) return true;
  return std::any_of(labels_.begin(), labels_.end(), [&](const std::string& l) { return iequals(l, user); });
}

std::vector<std::string> domain_labels(const std::string& aor) {
  std::vector<std::string> labels;
  const auto at = aor.find('@');
  if (at == std::string::npos) return labels;
  std::string rest = aor.substr(at + 1);
  for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest.erase(0, dot + 1))
    labels.push_back(rest.substr(0, dot));
  labels.push_back(rest);
  return labels;
}

std::string user_of(const std::string& uri) {
  const size_t start = after_scheme(uri);
  const auto at = uri.find('@');
  if (start == std::string::npos || at == std::string::npos) return "";
  const std::string user = uri.substr(start, at - start);
  return user.substr(0, user.find(':'));  // drop a password
}

std::string without_user(const std::string& uri) {
  const size_t start = after_scheme(uri);
  const auto at = uri.find('@');
  if (start == std::string::npos || at == std::string::npos) return uri;
  return uri.substr(0, start) + uri.substr(at + 1);
}

Hop register_hop(const std::string& target) { return Hop{without_user(target), "", target}; }

Hop request_hop(const RedirectChain& chain, const std::string& callee, const std::string& target) {
  if (chain.is_server_hop(target)) return Hop{callee, without_user(target), target};
  return Hop{target, "", target};
}

}  // namespace homesip::ua
