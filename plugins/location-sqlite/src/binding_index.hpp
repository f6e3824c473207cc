// The in-memory copy of every AOR's bindings, which answers all reads. Loop
// thread only. Alongside the AOR map it keeps AORs grouped by domain so
// list_aors does not scan every AOR.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "homesip/binding_list.hpp"
#include "homesip/location_store.hpp"

namespace homesip::location_sqlite {

// sort_for_lookup, drop_expired and domain_of: homesip/binding_list.hpp.

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

class BindingIndex {
 public:
  // The AOR's bindings with expires_at > now, sorted for lookup.
  BindingList unexpired(std::string_view aor, int64_t now) const;
  // Makes `bindings` (sorted, unexpired) the AOR's list; an empty list removes it.
  void replace(std::string_view aor, BindingList bindings);
  // Drops bindings with expires_at <= now, and AORs left without any.
  void remove_expired(int64_t now);
  // AORs of `domain` with a binding unexpired at `now`, sorted.
  std::vector<std::string> aors_in_domain(std::string_view domain, int64_t now) const;
  size_t aor_count() const { return by_aor_.size(); }

 private:
  void forget(std::string_view aor);

  std::unordered_map<std::string, BindingList, StringHash, std::equal_to<>> by_aor_;
  std::unordered_map<std::string, std::set<std::string, std::less<>>, StringHash, std::equal_to<>>
      aors_by_domain_;
};

}  // namespace homesip::location_sqlite
