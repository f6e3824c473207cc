#include "binding_index.hpp"

#include <algorithm>

namespace homesip::location_sqlite {
namespace {

bool any_unexpired(const BindingList& bindings, int64_t now) {
  return std::any_of(bindings.begin(), bindings.end(),
                     [now](const Binding& b) { return b.expires_at > now; });
}

bool any_expired(const BindingList& bindings, int64_t now) {
  return std::any_of(bindings.begin(), bindings.end(),
                     [now](const Binding& b) { return b.expires_at <= now; });
}

// What dropping a binding costs against looking at one: copying its
// contact out, a new list or forgetting the AOR (a sorted set's erase), the
// frees. Measured roughly: a slice of only expired AORs then takes about as
// long as one of only unexpired ones.
constexpr size_t kDropWork = 16;

const SharedBindings& no_bindings() {
  static const SharedBindings kNone = std::make_shared<const BindingList>();
  return kNone;
}

}  // namespace

SharedBindings BindingIndex::stored(std::string_view aor) const {
  const auto found = by_aor_.find(aor);
  return found == by_aor_.end() ? no_bindings() : found->second;
}

SharedBindings BindingIndex::unexpired_of(const SharedBindings& stored, int64_t now) {
  if (!any_expired(*stored, now)) return stored;
  BindingList bindings = *stored;  // already sorted; filtering keeps the order
  drop_expired(bindings, now);
  return std::make_shared<const BindingList>(std::move(bindings));
}

void BindingIndex::replace(std::string_view aor, BindingList bindings) {
  replace(aor, std::make_shared<const BindingList>(std::move(bindings)));
}

void BindingIndex::replace(std::string_view aor, SharedBindings bindings) {
  if (!bindings || bindings->empty()) {
    forget(aor);
    return;
  }
  auto found = by_aor_.find(aor);
  if (found != by_aor_.end()) {
    found->second = std::move(bindings);
    return;
  }
  const std::string_view key = by_aor_.emplace(std::string(aor), std::move(bindings)).first->first;
  const std::string_view domain = domain_of(key);
  auto group = aors_by_domain_.find(domain);
  if (group == aors_by_domain_.end()) group = aors_by_domain_.try_emplace(std::string(domain)).first;
  group->second.emplace(key);
}

BindingIndex::SweepSlice BindingIndex::remove_expired(int64_t now, size_t budget, SweepCursor& cursor,
                                                      std::vector<ExpiredContact>& dropped) {
  SweepSlice slice;
  // Erasing an AOR while its bucket is walked would invalidate the walk: the
  // emptied ones go after the slice (erasing never rehashes).
  std::vector<std::string> emptied;
  while (cursor.next_bucket < by_aor_.bucket_count() && slice.work < budget) {
    const size_t bucket = cursor.next_bucket++;
    ++slice.work;
    for (auto entry = by_aor_.begin(bucket); entry != by_aor_.end(bucket); ++entry) {
      const size_t looked_at = entry->second->size();
      const size_t dropped_before = dropped.size();
      if (drop_expired_of(entry->first, entry->second, now, dropped)) emptied.push_back(entry->first);
      slice.work += looked_at + kDropWork * (dropped.size() - dropped_before);
    }
  }
  for (const std::string& aor : emptied) forget(aor);
  slice.pass_complete = cursor.next_bucket >= by_aor_.bucket_count();
  if (slice.pass_complete) cursor = SweepCursor{};
  return slice;
}

bool BindingIndex::drop_expired_of(const std::string& aor, SharedBindings& bindings, int64_t now,
                                   std::vector<ExpiredContact>& dropped) {
  if (!any_expired(*bindings, now)) return false;
  BindingList kept;
  for (const Binding& binding : *bindings) {
    if (binding.expires_at > now)
      kept.push_back(binding);
    else
      dropped.push_back(ExpiredContact{aor, binding.contact});
  }
  if (kept.empty()) return true;
  bindings = std::make_shared<const BindingList>(std::move(kept));  // queued writes keep the old list
  return false;
}

std::vector<std::string> BindingIndex::aors_in_domain(std::string_view domain, int64_t now) const {
  std::vector<std::string> aors;
  const auto group = aors_by_domain_.find(domain);
  if (group == aors_by_domain_.end()) return aors;
  for (const std::string_view aor : group->second)  // a std::set: already sorted
    if (any_unexpired(*by_aor_.find(aor)->second, now)) aors.emplace_back(aor);
  return aors;
}

void BindingIndex::forget(std::string_view aor) {
  const auto found = by_aor_.find(aor);
  if (found == by_aor_.end()) return;
  // The domain's set views the node's key: it goes first.
  const auto group = aors_by_domain_.find(domain_of(aor));
  if (group != aors_by_domain_.end()) {
    const auto member = group->second.find(aor);
    if (member != group->second.end()) group->second.erase(member);
    if (group->second.empty()) aors_by_domain_.erase(group);
  }
  by_aor_.erase(found);
}

}  // namespace homesip::location_sqlite
