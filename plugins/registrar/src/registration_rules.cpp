#include "registration_rules.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace homesip::registrar {

namespace {

// Up to this many entries a scan is cheaper than hashing and allocates
// nothing: the usual REGISTER carries one or two contacts, an AOR a few
// bindings. Past it, a hash keeps the work linear in the request's size (one
// REGISTER of 80,000 Contacts held the loop for 30 s while this was quadratic).
constexpr size_t kScanLimit = 8;

// Contact URI -> position in a list. Keys view strings that must outlive it.
using UriPositions = std::unordered_map<std::string_view, size_t>;

// The position of `uri` among `list`'s entries, list.size() when absent.
template <class List, class UriOf>
size_t scan_for(const List& list, std::string_view uri, UriOf uri_of) {
  const auto it = std::find_if(list.begin(), list.end(), [&](const auto& e) { return uri_of(e) == uri; });
  return static_cast<size_t>(it - list.begin());
}

// RFC 3261 20.10/20.19 would have a malformed expires read as 3600; refusing it
// instead tells a broken UA what is wrong, as a bad Expires header gets 400.
bool any_invalid_expires(const std::vector<ContactView>& contacts) {
  return std::any_of(contacts.begin(), contacts.end(),
                     [](const ContactView& c) { return c.expires_invalid; });
}

// Adds the contacts in request order; a URI given twice keeps its first
// position and its last occurrence's values.
Verdict read_contacts(const std::vector<ContactView>& contacts, std::optional<uint32_t> expires_header,
                      const RegistrarPolicy& policy, std::vector<RequestedContact>& out) {
  std::optional<UriPositions> index;  // keys view `contacts`, which outlives it
  if (contacts.size() > kScanLimit) index.emplace().reserve(contacts.size());
  out.reserve(contacts.size());
  for (const auto& c : contacts) {
    if (c.uri.size() + c.instance.size() > policy.max_contact_bytes)
      return {400, "Contact Longer Than max_contact_bytes " + std::to_string(policy.max_contact_bytes)};
    const uint32_t expires = c.expires.value_or(expires_header.value_or(policy.default_expires));
    if (expires != 0 && expires < policy.min_expires) {
      Verdict v{423, "Interval Too Brief"};
      v.min_expires = policy.min_expires;
      return v;
    }
    RequestedContact requested{c.uri, std::min(expires, policy.max_expires), c.q_millis.value_or(1000),
                               std::string(c.instance)};
    const size_t at =
        index ? index->try_emplace(c.uri, out.size()).first->second
              : scan_for(out, c.uri, [](const RequestedContact& r) -> std::string_view { return r.uri; });
    if (at < out.size())
      out[at] = std::move(requested);
    else
      out.push_back(std::move(requested));
  }
  return {};
}

}  // namespace

Verdict read_intent(const std::vector<ContactView>& contacts, std::optional<uint32_t> expires_header,
                    const RegistrarPolicy& policy, RegisterIntent& intent) {
  const bool has_wildcard =
      std::any_of(contacts.begin(), contacts.end(), [](const ContactView& c) { return c.wildcard; });
  if (has_wildcard) {
    // RFC 3261 10.3 step 6: "*" only alone and only with Expires: 0.
    if (contacts.size() != 1) return {400, "Wildcard Contact Must Be Alone"};
    if (!expires_header || *expires_header != 0) return {400, "Wildcard Contact Needs Expires: 0"};
    intent.wildcard = true;
    return {};
  }
  if (any_invalid_expires(contacts)) return {400, "Invalid Contact Expires"};
  return read_contacts(contacts, expires_header, policy, intent.contacts);
}

namespace {

enum class Order { kNewer, kRetransmission, kOlder };

// Step 7's Call-ID/CSeq rule for one stored binding.
Order order_of(const Binding& stored, const RegisterIntent& intent) {
  if (stored.call_id != intent.call_id || intent.cseq > stored.cseq) return Order::kNewer;
  return intent.cseq == stored.cseq ? Order::kRetransmission : Order::kOlder;
}

// Writes `c` into `b` field by field: a refresh (the same strings again)
// reuses each string's storage instead of allocating a new binding's.
void assign_binding(Binding& b, const RequestedContact& c, const RegisterIntent& intent, int64_t now) {
  b.contact = c.uri;
  b.expires_at = now + c.expires;
  b.q_millis = c.q_millis;
  b.call_id = intent.call_id;
  b.cseq = intent.cseq;
  b.source = intent.source;
  b.instance = c.instance;
  b.user_agent = intent.user_agent;
}

// Contact -> position in `stored`, when both the request and the stored list
// are long enough for hashing to pay; nullopt means scan.
std::optional<UriPositions> index_if_long(const BindingList& stored, size_t requested) {
  if (std::min(stored.size(), requested) <= kScanLimit) return std::nullopt;
  UriPositions index;
  index.reserve(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) index.try_emplace(stored[i].contact, i);
  return index;
}

// The position of `uri` among the first `count` entries of `stored` (those
// the index holds), `count` when absent: what a request adds is never searched.
size_t position_in(const BindingList& stored, size_t count, const std::optional<UriPositions>& index,
                   std::string_view uri) {
  if (!index) {
    const auto first = stored.begin();
    const auto last = first + static_cast<std::ptrdiff_t>(count);
    return static_cast<size_t>(std::find_if(first, last, [&](const Binding& b) { return b.contact == uri; }) -
                               first);
  }
  const auto it = index->find(uri);
  return it == index->end() ? count : it->second;
}

// Removes the marked entries in one pass: erasing each at once would shift the
// list's tail once per removal.
void drop_marked(BindingList& list, const std::vector<bool>& marked) {
  size_t kept = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i < marked.size() && marked[i]) continue;
    if (kept != i) list[kept] = std::move(list[i]);
    ++kept;
  }
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(kept), list.end());
}

Verdict apply_wildcard(const RegisterIntent& intent, BindingList& bindings, bool& changed,
                       BindingChanges* changes) {
  for (const auto& stored : bindings)
    if (order_of(stored, intent) == Order::kOlder) return {500, "Out Of Order CSeq"};
  const size_t before = bindings.size();
  std::erase_if(bindings, [&](const Binding& b) {
    const bool newer = order_of(b, intent) == Order::kNewer;
    if (newer && changes) changes->removed.push_back(b.contact);
    return newer;
  });
  changed = bindings.size() != before;
  return {};
}

// All or nothing without a copy of the list: the first pass decides every
// contact's fate against `bindings` untouched, the second applies them in
// place (a refresh then allocates nothing). The request's URIs are distinct,
// so no contact can match one added by it.
Verdict apply_contacts(const RegisterIntent& intent, const RegistrarPolicy& policy, int64_t now,
                       BindingList& bindings, bool& changed, BindingChanges* changes) {
  auto index = index_if_long(bindings, intent.contacts.size());
  size_t added = 0;
  size_t dropped = 0;
  const size_t before = bindings.size();
  for (const auto& c : intent.contacts) {
    const size_t at = position_in(bindings, before, index, c.uri);
    if (at == before) {
      if (c.expires != 0) ++added;  // else removing what is not there
      continue;
    }
    const Order order = order_of(bindings[at], intent);
    if (order == Order::kOlder) return {500, "Out Of Order CSeq"};
    if (order == Order::kRetransmission) continue;  // already applied: answer as before
    if (c.expires == 0) ++dropped;
  }
  // A refresh or a replacement never grows the list, so it passes at the limit.
  const size_t after = before + added - dropped;
  if (after > policy.max_bindings_per_aor && after > before) return {403, "Too Many Registered Contacts"};
  if (added > 0 && bindings.capacity() < before + added) {
    // Growing moves the bindings, and the index's keys view their contacts.
    bindings.reserve(before + added);
    index = index_if_long(bindings, intent.contacts.size());
  }
  std::vector<bool> removed;  // sized at the first removal only
  for (const auto& c : intent.contacts) {
    const size_t at = position_in(bindings, before, index, c.uri);
    if (at == before) {
      if (c.expires == 0) continue;
      assign_binding(bindings.emplace_back(), c, intent, now);
      if (changes) changes->added.emplace_back(c.uri, c.expires);
      changed = true;
      continue;
    }
    if (order_of(bindings[at], intent) == Order::kRetransmission) continue;
    if (c.expires == 0) {
      if (removed.empty()) removed.resize(before);
      removed[at] = true;
      if (changes) changes->removed.push_back(c.uri);
    } else {
      assign_binding(bindings[at], c, intent, now);
    }
    changed = true;
  }
  drop_marked(bindings, removed);
  return {};
}

}  // namespace

Verdict apply_intent(const RegisterIntent& intent, const RegistrarPolicy& policy, int64_t now,
                     BindingList& bindings, bool& changed, BindingChanges* changes) {
  changed = false;
  if (changes) *changes = {};  // a store may run the editor again (a retry)
  return intent.wildcard ? apply_wildcard(intent, bindings, changed, changes)
                         : apply_contacts(intent, policy, now, bindings, changed, changes);
}

}  // namespace homesip::registrar
