// A LocationStore in memory for the tree's unit tests: answers at once, like
// a store answering from its index; lookups can be held back to test a
// request waiting on the store.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "homesip/location_store.hpp"

namespace homesip::tree::test {

class MemoryStore final : public LocationStore {
 public:
  std::map<std::string, BindingList> bindings;  // by AOR
  bool hold_lookups = false;                    // true: lookups wait in `held`
  std::vector<std::pair<std::string, LookupDone>> held;
  int lookups = 0;

  void update(std::string_view, BindingEditor, UpdateDone done) override { done(StoreStatus::kError, {}); }
  void lookup(std::string_view aor, LookupDone done) override {
    ++lookups;
    if (hold_lookups) return held.emplace_back(aor, std::move(done)), void();
    const auto it = bindings.find(std::string(aor));
    done(StoreStatus::kOk, it == bindings.end() ? BindingList{} : it->second);
  }
  void list_aors(std::string_view domain, ListDone done) override {
    std::vector<std::string> aors;
    for (const auto& [aor, list] : bindings)
      if (!list.empty() && aor.substr(aor.find('@') + 1) == domain) aors.push_back(aor);
    done(StoreStatus::kOk, aors);
  }

  // A binding of `aor` at `contact`; a child server's when `user_agent` says homesipd.
  void bind(const std::string& aor, const std::string& contact, std::string user_agent = "baresip",
            int64_t expires_at = 4'000'000'000) {
    Binding b;
    b.contact = contact;
    b.expires_at = expires_at;
    b.user_agent = std::move(user_agent);
    bindings[aor].push_back(b);
  }
};

}  // namespace homesip::tree::test
