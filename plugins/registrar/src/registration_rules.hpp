// RFC 3261 section 10.3 as pure functions over a binding list, so the rules are
// testable on their own and the store can run them wherever it serialises
// edits of one AOR.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/request.hpp"

namespace homesip::registrar {

struct RegistrarPolicy {
  uint32_t min_expires = 60;
  uint32_t max_expires = 86400;
  uint32_t default_expires = 3600;
  // Bindings one AOR may hold: each is stored, and each goes out in every
  // 200 to a REGISTER and every 302 to a call for the AOR.
  uint32_t max_bindings_per_aor = 10;
  // Longest Contact URI (with its +sip.instance) stored, as Kamailio's
  // contact_max_size: what one REGISTER can make the store keep.
  uint32_t max_contact_bytes = 512;
};

// One Contact of the REGISTER, with its effective expiry already decided.
struct RequestedContact {
  std::string uri;
  uint32_t expires = 0;
  uint16_t q_millis = 1000;
  std::string instance;
};

// What a REGISTER asks for, copied out of the message so the edit can run on
// any thread.
struct RegisterIntent {
  bool wildcard = false;  // Contact: * with Expires: 0
  std::vector<RequestedContact> contacts;
  std::string call_id;
  uint32_t cseq = 0;
  std::string source;
  std::string user_agent;
};

// The answer decided by the rules; status 200 means "write and list".
struct Verdict {
  int status = 200;
  std::string reason;
  uint32_t min_expires = 0;  // for 423
  bool ok() const { return status == 200; }
};

// What an applied intent changed, for the log: contacts bound anew (with their
// expiry) and contacts removed. A refresh of a binding is in neither.
struct BindingChanges {
  std::vector<std::pair<std::string, uint32_t>> added;
  std::vector<std::string> removed;
};

// Checks that need no stored state (step 6 and the Contact syntax rules) and
// builds the intent. On failure, the verdict says what to answer.
Verdict read_intent(const std::vector<ContactView>& contacts, std::optional<uint32_t> expires_header,
                    const RegistrarPolicy& policy, RegisterIntent& intent);

// Steps 7-8: applies the intent to `bindings` (the AOR's unexpired list).
// Returns a non-200 verdict, leaving `bindings` unchanged, when the request
// must fail; sets `changed` when something must be written. `changes`, when
// given, is set to what was added and removed.
Verdict apply_intent(const RegisterIntent& intent, const RegistrarPolicy& policy, int64_t now,
                     BindingList& bindings, bool& changed, BindingChanges* changes = nullptr);

}  // namespace homesip::registrar
