#include "registration_rules.hpp"

#include <algorithm>

namespace homesip::registrar {

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
  for (const auto& c : contacts) {
    // A malformed expires parameter falls back to the header, then the default.
    uint32_t expires = c.expires.value_or(expires_header.value_or(policy.default_expires));
    if (expires != 0 && expires < policy.min_expires) {
      Verdict v{423, "Interval Too Brief"};
      v.min_expires = policy.min_expires;
      return v;
    }
    expires = std::min(expires, policy.max_expires);
    const auto same_uri = [&](const RequestedContact& r) { return r.uri == c.uri; };
    auto dup = std::find_if(intent.contacts.begin(), intent.contacts.end(), same_uri);
    RequestedContact requested{c.uri, expires, c.q_millis.value_or(1000), std::string(c.instance)};
    if (dup != intent.contacts.end())
      *dup = std::move(requested);  // the last occurrence of a URI wins
    else
      intent.contacts.push_back(std::move(requested));
  }
  return {};
}

namespace {

enum class Order { kNewer, kRetransmission, kOlder };

// Step 7's Call-ID/CSeq rule for one stored binding.
Order order_of(const Binding& stored, const RegisterIntent& intent) {
  if (stored.call_id != intent.call_id || intent.cseq > stored.cseq) return Order::kNewer;
  return intent.cseq == stored.cseq ? Order::kRetransmission : Order::kOlder;
}

Binding make_binding(const RequestedContact& c, const RegisterIntent& intent, int64_t now) {
  Binding b;
  b.contact = c.uri;
  b.expires_at = now + c.expires;
  b.q_millis = c.q_millis;
  b.call_id = intent.call_id;
  b.cseq = intent.cseq;
  b.source = intent.source;
  b.instance = c.instance;
  b.user_agent = intent.user_agent;
  return b;
}

}  // namespace

Verdict apply_intent(const RegisterIntent& intent, const RegistrarPolicy& policy, int64_t now,
                     BindingList& bindings, bool& changed) {
  changed = false;
  BindingList next = bindings;
  if (intent.wildcard) {
    for (const auto& stored : bindings) {
      const Order order = order_of(stored, intent);
      if (order == Order::kOlder) return {500, "Out Of Order CSeq"};
      if (order == Order::kRetransmission) continue;
    }
    next.erase(std::remove_if(next.begin(), next.end(),
                              [&](const Binding& b) { return order_of(b, intent) == Order::kNewer; }),
               next.end());
    changed = next.size() != bindings.size();
    bindings = std::move(next);
    return {};
  }
  for (const auto& c : intent.contacts) {
    auto it = std::find_if(next.begin(), next.end(), [&](const Binding& b) { return b.contact == c.uri; });
    if (it == next.end()) {
      if (c.expires == 0) continue;  // removing what is not there
      next.push_back(make_binding(c, intent, now));
      changed = true;
      continue;
    }
    const Order order = order_of(*it, intent);
    if (order == Order::kOlder) return {500, "Out Of Order CSeq"};
    if (order == Order::kRetransmission) continue;  // already applied: answer as before
    if (c.expires == 0)
      next.erase(it);
    else
      *it = make_binding(c, intent, now);
    changed = true;
  }
  if (next.size() > policy.max_contacts && next.size() > bindings.size()) return {403, "Too Many Contacts"};
  if (changed) bindings = std::move(next);
  return {};
}

}  // namespace homesip::registrar
