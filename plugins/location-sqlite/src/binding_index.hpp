// The in-memory copy of every AOR's bindings, which answers all reads. Loop
// thread only. Alongside the AOR map it keeps AORs grouped by domain so
// list_aors does not scan every AOR.
//
// An AOR's list is immutable once stored and shared: the index, the write
// queued for it and the reply being built all hold the same list, so a
// REGISTER copies its AOR's bindings once (for the editor) instead of at every
// hand-over. The writer thread reads queued lists; nothing ever changes one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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

using SharedBindings = std::shared_ptr<const BindingList>;

// A binding the index dropped because it expired.
struct ExpiredContact {
  std::string aor;
  std::string contact;
};

// Where an incremental sweep of the index stands: the next hash bucket to
// visit. When a rehash (the map grew) happens during a pass, the pass goes on
// over the new buckets from the same index; AORs that moved into buckets it
// already visited are swept by the next pass. Expired bindings are never served
// meanwhile (reads filter them), they only stay in memory and the file a
// little longer.
struct SweepCursor {
  size_t next_bucket = 0;
};

class BindingIndex {
 public:
  // The AOR's list as stored, expired bindings included: what the file holds
  // for it, so what a change is written against. Never null.
  SharedBindings stored(std::string_view aor) const;
  // The AOR's bindings with expires_at > now, sorted for lookup; never null.
  // The stored list itself unless some of it has expired.
  SharedBindings unexpired(std::string_view aor, int64_t now) const { return unexpired_of(stored(aor), now); }
  static SharedBindings unexpired_of(const SharedBindings& stored, int64_t now);
  // Makes `bindings` (sorted, unexpired) the AOR's list; an empty list removes it.
  void replace(std::string_view aor, SharedBindings bindings);
  void replace(std::string_view aor, BindingList bindings);
  // Drops bindings with expires_at <= now, and AORs left without any, in the
  // buckets from `cursor` on, until `budget` is spent (a bucket visited and a
  // binding looked at cost one each, a binding dropped more: so a slice's work
  // is bounded whatever the index holds) or the last bucket was visited; appends each dropped
  // binding to `dropped`. Returns the work done and whether the pass is
  // complete, which starts the cursor over.
  struct SweepSlice {
    size_t work = 0;
    bool pass_complete = false;
  };
  SweepSlice remove_expired(int64_t now, size_t budget, SweepCursor& cursor,
                            std::vector<ExpiredContact>& dropped);
  // AORs of `domain` with a binding unexpired at `now`, sorted.
  std::vector<std::string> aors_in_domain(std::string_view domain, int64_t now) const;
  size_t aor_count() const { return by_aor_.size(); }

 private:
  void forget(std::string_view aor);
  // Drops the list's expired bindings into `dropped`; true when none is left
  // (the caller forgets the AOR).
  static bool drop_expired_of(const std::string& aor, SharedBindings& bindings, int64_t now,
                              std::vector<ExpiredContact>& dropped);

  std::unordered_map<std::string, SharedBindings, StringHash, std::equal_to<>> by_aor_;
  // Views of by_aor_'s keys (a node's key never moves): a second copy of
  // every AOR cost some 50 bytes each at a million.
  std::unordered_map<std::string, std::set<std::string_view>, StringHash, std::equal_to<>> aors_by_domain_;
};

}  // namespace homesip::location_sqlite
