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
  by_aor_.emplace(std::string(aor), std::move(bindings));
  const std::string_view domain = domain_of(aor);
  auto group = aors_by_domain_.find(domain);
  if (group == aors_by_domain_.end()) group = aors_by_domain_.try_emplace(std::string(domain)).first;
  group->second.emplace(aor);
}

void BindingIndex::remove_expired(int64_t now, std::vector<ExpiredContact>& dropped) {
  std::vector<std::string> emptied;
  for (auto& [aor, bindings] : by_aor_) {
    if (!any_expired(*bindings, now)) continue;
    BindingList kept;
    for (const Binding& binding : *bindings) {
      if (binding.expires_at > now)
        kept.push_back(binding);
      else
        dropped.push_back(ExpiredContact{aor, binding.contact});
    }
    if (kept.empty())
      emptied.push_back(aor);
    else
      bindings = std::make_shared<const BindingList>(std::move(kept));  // queued writes keep the old list
  }
  for (const std::string& aor : emptied) forget(aor);
}

std::vector<std::string> BindingIndex::aors_in_domain(std::string_view domain, int64_t now) const {
  std::vector<std::string> aors;
  const auto group = aors_by_domain_.find(domain);
  if (group == aors_by_domain_.end()) return aors;
  for (const std::string& aor : group->second)  // a std::set: already sorted
    if (any_unexpired(*by_aor_.find(aor)->second, now)) aors.push_back(aor);
  return aors;
}

void BindingIndex::forget(std::string_view aor) {
  const auto found = by_aor_.find(aor);
  if (found == by_aor_.end()) return;
  const auto group = aors_by_domain_.find(domain_of(aor));
  if (group != aors_by_domain_.end()) {
    const auto member = group->second.find(aor);
    if (member != group->second.end()) group->second.erase(member);
    if (group->second.empty()) aors_by_domain_.erase(group);
  }
  by_aor_.erase(found);
}

}  // namespace homesip::location_sqlite
