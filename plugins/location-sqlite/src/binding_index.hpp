// The in-memory copy of every AOR's bindings, which answers all reads. Its
// owner serialises access (SqliteLocationStore's mutex). Alongside the AORs it
// keeps them grouped by domain so list_aors does not scan every AOR.
//
// Each AOR is one packed record (packed_bindings.hpp) in an open-addressing
// table of record pointers hashed by the AOR inside the record: no key string,
// no node per AOR. At a million AORs of one binding this holds some 200 bytes
// per binding where a map of shared std::vector<Binding> held 575.
//
// A record is immutable once stored; a change stores a new one with a new
// version. Readers get decoded copies (a BindingList each), so nothing outside
// the index ever holds a record: the writer thread reads the lists its queued
// writes own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "homesip/binding_list.hpp"
#include "homesip/location_store.hpp"
#include "packed_bindings.hpp"
#include "record_pool.hpp"

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

// Where an incremental sweep of the index stands: the next slot of the table
// to visit. When the table grows during a pass, the pass goes on over the new
// table from the same slot; AORs that moved into slots it already visited (the
// growth, or an update's removal between two slices shifting its probe run
// back) are swept by the next pass. Expired bindings are never served
// meanwhile (reads filter them), they only stay in memory and the file a
// little longer.
struct SweepCursor {
  size_t next_bucket = 0;
};

class BindingIndex {
 public:
  BindingIndex() = default;
  BindingIndex(BindingIndex&&) noexcept = default;
  // Not assignable: the slots own their records, and a defaulted assignment
  // would drop the target's without freeing them.
  BindingIndex& operator=(BindingIndex&&) = delete;
  ~BindingIndex();

  // The AOR's list as stored, expired bindings included: what the file holds
  // for it, so what a change is written against. Never null; a new copy.
  SharedBindings stored(std::string_view aor) const;
  // The AOR's bindings with expires_at > now, sorted for lookup; never null.
  SharedBindings unexpired(std::string_view aor, int64_t now) const;
  static SharedBindings unexpired_of(const SharedBindings& stored, int64_t now);
  // Changes whenever the AOR's list is replaced (0: the AOR has none). An
  // update made against stored() may be stored only while this is unchanged.
  uint64_t version_of(std::string_view aor) const;
  // Makes `bindings` (sorted, unexpired) the AOR's list; an empty list removes it.
  void replace(std::string_view aor, const BindingList& bindings);
  // The same with the bindings gathered in `builder` (sorted by the packing),
  // which is left empty: the load reads rows straight into one.
  void replace(std::string_view aor, RecordBuilder& builder);
  // The load's replace, for an AOR not in the index yet (the file lists each
  // AOR's rows together, once): its slot is found without reading the records
  // on the way, which at a million AORs was a fifth of the load's time.
  void add_loaded(std::string_view aor, RecordBuilder& builder);
  // Drops bindings with expires_at <= now, and AORs left without any, in the
  // slots from `cursor` on, until `budget` is spent (a slot visited and a
  // binding looked at cost one each, a binding dropped more: so a slice's work
  // is bounded whatever the index holds) or the last slot was visited; appends each dropped
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
  size_t aor_count() const { return count_; }
  // Where the records' memory comes from (record_pool.hpp).
  const RecordPool& pool() const { return pool_; }
  // Gives back what growing left unused (the domains' groups): after the load.
  void shrink_to_fit();

 private:
  // A domain's records, in AOR order while `sorted` (appending in key order,
  // as the load does, keeps it so); sorted again by the first list_aors after
  // a change broke the order. Each record knows its position (domain_slot).
  struct DomainGroup {
    std::vector<PackedRecord*> members;
    bool sorted = true;
  };

  // `record` (one of the slots') as an owner that gives it back to the pool.
  PackedRecordPtr owned(PackedRecord* record);
  // The slot holding `aor`, or the empty slot where it would go.
  size_t find_slot(std::string_view aor, size_t hash) const;
  void store(std::string_view aor, PackedRecordPtr record);
  void insert_new(PackedRecordPtr record, size_t slot);
  void erase(std::string_view aor);
  void erase_slot(size_t slot);
  void grow();
  void join_domain(PackedRecord* record);
  void leave_domain(const PackedRecord* record);
  // Drops the record's expired bindings into `dropped` (a new record in its
  // slot); true when none is left (the caller erases the AOR).
  bool drop_expired_at(size_t slot, int64_t now, std::vector<ExpiredContact>& dropped);

  RecordPool pool_;  // first: the records below live in it
  // Owning pointers (PackedRecordDeleter), null when free; a power of two
  // in size, at most 3/4 full, linear probing with backward-shift deletion.
  std::vector<PackedRecord*> slots_;
  size_t count_ = 0;
  uint64_t last_version_ = 0;
  RecordBuilder builder_;  // reused by replace(list)
  mutable std::unordered_map<std::string, DomainGroup, StringHash, std::equal_to<>> domains_;
};

}  // namespace homesip::location_sqlite
