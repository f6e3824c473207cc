// The location store: where a registrar keeps bindings (AOR -> contacts) and
// where redirect and other services read them. Backends (SQLite, LDAP, ...)
// are plugins; every backend passes the same conformance suite.
//
// A service (services.hpp): one plugin provides it, others require it. Safe to
// call from any loop thread; every callback runs on the loop thread of the
// caller, possibly before the call returns (a backend answering from memory).
// Binding's layout is frozen with the service's name: a store that keeps more
// per binding offers a new service version ("homesip.location-store/2").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace homesip {

struct Binding {
  std::string contact;     // contact URI, the binding's key within its AOR
  int64_t expires_at = 0;  // unix seconds
  uint16_t q_millis = 1000;
  std::string call_id;
  uint32_t cseq = 0;
  std::string source;    // where the REGISTER came from: "udp:192.0.2.7:5060"
  std::string instance;  // +sip.instance, when the UA sent one
  std::string user_agent;
};

enum class StoreStatus {
  kOk,
  kUnavailable,  // backend down or overloaded: answer 503 with Retry-After
  kError,        // a bug or corrupt data: answer 500
};

// The bindings of one AOR, as an editor sees and changes them.
using BindingList = std::vector<Binding>;

// Read-modify-write of one AOR. The store calls the editor with the AOR's
// current, unexpired bindings; the editor changes the list in place and
// returns true to write it, false to leave the store unchanged. The store
// serialises edits of one AOR. The editor may run on a store's worker thread:
// it must only touch what it captured.
using BindingEditor = std::function<bool(BindingList& bindings)>;

// `bindings` is the AOR's list after the update. Called only once the update
// -- and every update submitted before it -- is durable, so a 200 OK sent
// from here means the binding survives a crash.
using UpdateDone = std::function<void(StoreStatus status, const BindingList& bindings)>;
using LookupDone = std::function<void(StoreStatus status, const BindingList& bindings)>;
using ListDone = std::function<void(StoreStatus status, const std::vector<std::string>& aors)>;

class __attribute__((visibility("default"))) LocationStore {
 public:
  static constexpr const char* kServiceName = "homesip.location-store/1";
  virtual ~LocationStore() = default;

  virtual void update(std::string_view aor, BindingEditor edit, UpdateDone done) = 0;

  // The AOR's unexpired bindings, highest q first.
  virtual void lookup(std::string_view aor, LookupDone done) = 0;

  // AORs with at least one unexpired binding whose domain part equals
  // `domain` (e.g. every user of family "C1.D1.H1"), sorted.
  virtual void list_aors(std::string_view domain, ListDone done) = 0;
};

}  // namespace homesip
