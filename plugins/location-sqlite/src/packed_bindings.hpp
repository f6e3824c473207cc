// One AOR's bindings as the index keeps them: a single immutable allocation
// holding the AOR text, then every binding's fixed fields, then their texts
// with length prefixes. A million AORs of homesip::Binding (five
// std::strings, a vector, a shared_ptr, a map node and a set node each) cost
// 575 bytes per binding; one packed record costs its texts and a few dozen
// bytes more.
//
// Readers decode a record into a BindingList when they need one; the expiry
// checks (sweep, list_aors) read the fixed fields in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "homesip/location_store.hpp"
#include "record_pool.hpp"

namespace homesip::location_sqlite {

// A binding's fields without owning its texts: a row being read from the file,
// or a Binding being packed.
struct BindingView {
  std::string_view contact;
  int64_t expires_at = 0;
  uint16_t q_millis = 1000;
  std::string_view call_id;
  uint32_t cseq = 0;
  std::string_view source;
  std::string_view instance;
  std::string_view user_agent;

  static BindingView of(const Binding& binding);
  Binding owned() const;
};

class PackedRecord;

// Gives the record's memory back to the pool it came from.
struct PackedRecordDeleter {
  RecordPool* pool = nullptr;
  void operator()(PackedRecord* record) const;
};
using PackedRecordPtr = std::unique_ptr<PackedRecord, PackedRecordDeleter>;

class PackedRecord {
 public:
  PackedRecord(const PackedRecord&) = delete;
  PackedRecord& operator=(const PackedRecord&) = delete;

  std::string_view aor() const;
  // std::hash of aor(), kept so the index's table rehashes and probes without
  // reading the text.
  size_t aor_hash() const { return aor_hash_; }
  // Stamped by the index when it stores the record: an update's race check
  // compares it, not the address (a freed record's address comes back).
  uint64_t version() const { return version_; }
  uint32_t size() const { return count_; }
  int64_t expires_at(uint32_t position) const;
  bool any_expired(int64_t now) const;
  bool any_unexpired(int64_t now) const;

  // Every binding, in the stored (lookup) order.
  BindingList unpack() const;
  // The bindings with expires_at > now, in the stored order.
  BindingList unpack_unexpired(int64_t now) const;

  // The index's own bookkeeping, the one field that changes: where the
  // record sits in its domain's group.
  uint32_t domain_slot() const { return domain_slot_; }
  void set_domain_slot(uint32_t slot) { domain_slot_ = slot; }

  // The bytes the record takes, header included: what its pool gave it.
  size_t allocated_bytes() const;

 private:
  friend class RecordBuilder;
  PackedRecord(size_t aor_hash, uint64_t version, uint32_t count)
      : aor_hash_(aor_hash), version_(version), count_(count) {}

  const unsigned char* payload() const { return reinterpret_cast<const unsigned char*>(this + 1); }
  const unsigned char* fixed_fields() const;
  template <class Keep>
  BindingList unpack_if(Keep keep) const;

  size_t aor_hash_;
  uint64_t version_;
  uint32_t count_;
  uint32_t domain_slot_ = 0;
  // The payload follows: varint AOR length, the AOR, `count_` fixed fields
  // (expires_at, cseq, q_millis), then per binding five varint-prefixed texts
  // (contact, call_id, source, instance, user_agent).
};

// Gathers one AOR's bindings, copying their texts into two reused buffers
// (so reading a million rows allocates nothing per row), then packs them.
class RecordBuilder {
 public:
  // On failure (out of memory, an AOR's texts past 4 GiB) the builder is
  // left empty, so nothing of that AOR is packed into the next record.
  void add(const BindingView& binding);
  void add(const BindingList& bindings);
  bool empty() const { return rows_.empty(); }
  // The record of `aor`, its bindings in sort_for_lookup's order, in memory
  // from `pool` (which must outlive it); the builder is empty again (its
  // buffers kept for the next AOR).
  PackedRecordPtr finish(std::string_view aor, uint64_t version, RecordPool& pool);

 private:
  void add_row(const BindingView& binding);
  void clear();

  struct Row {
    int64_t expires_at;
    uint32_t cseq;
    uint16_t q_millis;
    uint32_t texts_offset;  // in texts_
    uint32_t texts_size;
    std::string_view contact(const std::string& texts) const;
  };
  std::vector<Row> rows_;
  std::string texts_;
};

}  // namespace homesip::location_sqlite
