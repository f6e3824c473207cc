// Typed attributes a request carries through the chain: one handler sets a
// value, later handlers read it (the authenticated identity is the first).
// A key is a name and a type; a value set under one type is invisible under
// another, so a plugin built with a different idea of the type cannot misread it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace homesip {

template <class T>
struct AttributeKey {
  std::string_view name;  // "homesip.identity"; namespaced by the plugin that defines it
};

class __attribute__((visibility("default"))) Attributes {
 public:
  virtual ~Attributes() = default;

  // Sets (or replaces) the value of `key`.
  template <class T>
  void set(AttributeKey<T> key, T value) {
    set_erased(key.name, typeid(T).name(), std::make_shared<T>(std::move(value)));
  }
  // The value of `key`, or nullptr when unset (or set with another type).
  // Valid until the attribute is set again or the request ends.
  template <class T>
  const T* get(AttributeKey<T> key) const {
    return static_cast<const T*>(get_erased(key.name, typeid(T).name()));
  }

 protected:
  // `type` is the mangled type name: compared as text, which holds across shared objects.
  virtual void set_erased(std::string_view name, const char* type, std::shared_ptr<void> value) = 0;
  virtual const void* get_erased(std::string_view name, const char* type) const = 0;
};

// Who sent the request, as proven by an authentication handler. Nothing in
// the chain trusts From: a handler that needs the sender's identity reads this
// and treats its absence as "not authenticated".
struct AuthenticatedIdentity {
  std::string aor;     // "U1@C1.D1.H1" or a server's "H1@C1.D1"
  std::string realm;   // the realm the credentials were checked in
  std::string role;    // "owner", "member", "guest", "server", ...
  std::string scheme;  // how: "digest", "tls-certificate", ...
};

inline constexpr AttributeKey<AuthenticatedIdentity> kAuthenticatedIdentity{"homesip.identity"};

}  // namespace homesip
