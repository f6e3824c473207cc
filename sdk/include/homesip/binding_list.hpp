// Rules on binding lists that every location store (and anything reading
// one) shares, so all backends hand out lists in the same order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "homesip/location_store.hpp"

namespace homesip {

// The order a store returns bindings in: highest q first; among equal q the
// binding that expires last (usually the most recently refreshed), then by
// contact, so a list read back from disk or a directory compares equal.
inline void sort_for_lookup(BindingList& bindings) {
  std::sort(bindings.begin(), bindings.end(), [](const Binding& a, const Binding& b) {
    if (a.q_millis != b.q_millis) return a.q_millis > b.q_millis;
    if (a.expires_at != b.expires_at) return a.expires_at > b.expires_at;
    return a.contact < b.contact;
  });
}

inline void drop_expired(BindingList& bindings, int64_t now) {
  std::erase_if(bindings, [now](const Binding& b) { return b.expires_at <= now; });
}

// True when two bindings name one contact: an editor's bug a store refuses.
inline bool has_duplicate_contacts(const BindingList& bindings) {
  std::vector<std::string_view> contacts;
  contacts.reserve(bindings.size());
  for (const Binding& b : bindings) contacts.push_back(b.contact);
  std::sort(contacts.begin(), contacts.end());
  return std::adjacent_find(contacts.begin(), contacts.end()) != contacts.end();
}

// The domain part of an AOR: after the last '@', or the whole AOR without one.
inline std::string_view domain_of(std::string_view aor) {
  const size_t at = aor.rfind('@');
  return at == std::string_view::npos ? aor : aor.substr(at + 1);
}

}  // namespace homesip
