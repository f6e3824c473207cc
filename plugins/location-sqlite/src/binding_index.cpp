#include "binding_index.hpp"

#include <algorithm>
#include <utility>

namespace homesip::location_sqlite {
namespace {

// What dropping a binding costs against looking at one: copying its
// contact out, a new record or forgetting the AOR, the frees. Measured
// roughly: a slice of only expired AORs then takes about as long as one of
// only unexpired ones.
constexpr size_t kDropWork = 16;

constexpr size_t kFirstCapacity = 16;

const SharedBindings& no_bindings() {
  static const SharedBindings kNone = std::make_shared<const BindingList>();
  return kNone;
}

}  // namespace

PackedRecordPtr BindingIndex::owned(PackedRecord* record) {
  return PackedRecordPtr(record, PackedRecordDeleter{&pool_});
}

BindingIndex::~BindingIndex() {
  for (PackedRecord* record : slots_)
    if (record) owned(record).reset();
}

size_t BindingIndex::find_slot(std::string_view aor, size_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const PackedRecord* record = slots_[slot];
    if (!record || (record->aor_hash() == hash && record->aor() == aor)) return slot;
  }
}

SharedBindings BindingIndex::stored(std::string_view aor) const {
  if (slots_.empty()) return no_bindings();
  const PackedRecord* record = slots_[find_slot(aor, StringHash{}(aor))];
  return record ? std::make_shared<const BindingList>(record->unpack()) : no_bindings();
}

SharedBindings BindingIndex::unexpired(std::string_view aor, int64_t now) const {
  if (slots_.empty()) return no_bindings();
  const PackedRecord* record = slots_[find_slot(aor, StringHash{}(aor))];
  return record ? std::make_shared<const BindingList>(record->unpack_unexpired(now)) : no_bindings();
}

SharedBindings BindingIndex::unexpired_of(const SharedBindings& stored, int64_t now) {
  if (std::none_of(stored->begin(), stored->end(), [now](const Binding& b) { return b.expires_at <= now; }))
    return stored;
  BindingList bindings = *stored;  // already sorted; filtering keeps the order
  drop_expired(bindings, now);
  return std::make_shared<const BindingList>(std::move(bindings));
}

uint64_t BindingIndex::version_of(std::string_view aor) const {
  if (slots_.empty()) return 0;
  const PackedRecord* record = slots_[find_slot(aor, StringHash{}(aor))];
  return record ? record->version() : 0;
}

void BindingIndex::replace(std::string_view aor, const BindingList& bindings) {
  builder_.add(bindings);
  replace(aor, builder_);
}

void BindingIndex::replace(std::string_view aor, RecordBuilder& builder) {
  if (builder.empty()) {
    erase(aor);
    return;
  }
  store(aor, builder.finish(aor, ++last_version_, pool_));
}

void BindingIndex::add_loaded(std::string_view aor, RecordBuilder& builder) {
  if (builder.empty()) return;
  PackedRecordPtr record = builder.finish(aor, ++last_version_, pool_);
  if ((count_ + 1) * 4 > slots_.size() * 3) grow();
  const size_t mask = slots_.size() - 1;
  size_t slot = record->aor_hash() & mask;
  while (slots_[slot]) slot = (slot + 1) & mask;
  insert_new(std::move(record), slot);
}

void BindingIndex::store(std::string_view aor, PackedRecordPtr record) {
  if (slots_.empty()) grow();
  size_t slot = find_slot(aor, record->aor_hash());
  PackedRecord* old = slots_[slot];
  if (!old) {
    // Only a new AOR grows the table: the sweep replaces records while it
    // walks the slots, and needs them to stay where they are.
    if ((count_ + 1) * 4 > slots_.size() * 3) {
      grow();
      slot = find_slot(aor, record->aor_hash());
    }
    insert_new(std::move(record), slot);
    return;
  }
  // The new record takes the old one's place in its domain's group too.
  record->set_domain_slot(old->domain_slot());
  domains_.find(domain_of(aor))->second.members[old->domain_slot()] = record.get();
  slots_[slot] = record.release();
  owned(old).reset();
}

void BindingIndex::insert_new(PackedRecordPtr record, size_t slot) {
  join_domain(record.get());
  slots_[slot] = record.release();
  ++count_;
}

void BindingIndex::grow() {
  std::vector<PackedRecord*> old = std::exchange(slots_, {});
  slots_.assign(old.empty() ? kFirstCapacity : old.size() * 2, nullptr);
  const size_t mask = slots_.size() - 1;
  for (PackedRecord* record : old) {
    if (!record) continue;
    size_t slot = record->aor_hash() & mask;
    while (slots_[slot]) slot = (slot + 1) & mask;
    slots_[slot] = record;
  }
}

void BindingIndex::erase(std::string_view aor) {
  if (slots_.empty()) return;
  const size_t slot = find_slot(aor, StringHash{}(aor));
  if (slots_[slot]) erase_slot(slot);
}

void BindingIndex::erase_slot(size_t slot) {
  PackedRecord* gone = slots_[slot];
  leave_domain(gone);
  owned(gone).reset();
  --count_;
  // Backward shift: each later record of the probe run whose home is not
  // between the hole and itself moves into the hole, so no lookup ever stops
  // early at it (no tombstones to clean up later).
  const size_t mask = slots_.size() - 1;
  size_t hole = slot;
  for (size_t next = (hole + 1) & mask; slots_[next]; next = (next + 1) & mask) {
    const size_t home = slots_[next]->aor_hash() & mask;
    const bool home_after_hole = ((next - home) & mask) < ((next - hole) & mask);
    if (home_after_hole) continue;
    slots_[hole] = slots_[next];
    hole = next;
  }
  slots_[hole] = nullptr;
}

void BindingIndex::join_domain(PackedRecord* record) {
  const std::string_view domain = domain_of(record->aor());
  auto group = domains_.find(domain);
  if (group == domains_.end()) group = domains_.try_emplace(std::string(domain)).first;
  std::vector<PackedRecord*>& members = group->second.members;
  if (!members.empty() && members.back()->aor() > record->aor()) group->second.sorted = false;
  record->set_domain_slot(static_cast<uint32_t>(members.size()));
  members.push_back(record);
}

void BindingIndex::leave_domain(const PackedRecord* record) {
  const auto group = domains_.find(domain_of(record->aor()));
  std::vector<PackedRecord*>& members = group->second.members;
  const uint32_t position = record->domain_slot();
  // The last member fills the gap: O(1), at the price of the order.
  if (position + 1 != members.size()) {
    members[position] = members.back();
    members[position]->set_domain_slot(position);
    group->second.sorted = false;
  }
  members.pop_back();
  if (members.empty()) domains_.erase(group);
}

BindingIndex::SweepSlice BindingIndex::remove_expired(int64_t now, size_t budget, SweepCursor& cursor,
                                                      std::vector<ExpiredContact>& dropped) {
  SweepSlice slice;
  while (cursor.next_bucket < slots_.size() && slice.work < budget) {
    const size_t slot = cursor.next_bucket++;
    ++slice.work;
    if (!slots_[slot]) continue;
    const size_t looked_at = slots_[slot]->size();
    const size_t dropped_before = dropped.size();
    if (drop_expired_at(slot, now, dropped)) {
      erase_slot(slot);
      // The erase may shift a later record of the probe run back into this
      // slot: it is visited next, not skipped until the next pass.
      cursor.next_bucket = slot;
    }
    slice.work += looked_at + kDropWork * (dropped.size() - dropped_before);
  }
  slice.pass_complete = cursor.next_bucket >= slots_.size();
  if (slice.pass_complete) cursor = SweepCursor{};
  return slice;
}

bool BindingIndex::drop_expired_at(size_t slot, int64_t now, std::vector<ExpiredContact>& dropped) {
  const PackedRecord& record = *slots_[slot];
  if (!record.any_expired(now)) return false;
  const std::string_view aor = record.aor();
  BindingList kept;
  for (Binding& binding : record.unpack()) {
    if (binding.expires_at > now)
      kept.push_back(std::move(binding));
    else
      dropped.push_back(ExpiredContact{std::string(aor), std::move(binding.contact)});
  }
  if (kept.empty()) return true;
  builder_.add(kept);
  store(aor, builder_.finish(aor, ++last_version_, pool_));  // in place: the AOR is there
  return false;
}

std::vector<std::string> BindingIndex::aors_in_domain(std::string_view domain, int64_t now) const {
  std::vector<std::string> aors;
  const auto found = domains_.find(domain);
  if (found == domains_.end()) return aors;
  DomainGroup& group = found->second;
  if (!group.sorted) {
    std::sort(group.members.begin(), group.members.end(),
              [](const PackedRecord* a, const PackedRecord* b) { return a->aor() < b->aor(); });
    for (uint32_t position = 0; position < group.members.size(); ++position)
      group.members[position]->set_domain_slot(position);
    group.sorted = true;
  }
  for (const PackedRecord* record : group.members)
    if (record->any_unexpired(now)) aors.emplace_back(record->aor());
  return aors;
}

void BindingIndex::shrink_to_fit() {
  for (auto& [domain, group] : domains_) group.members.shrink_to_fit();
}

}  // namespace homesip::location_sqlite
