#include "ldap_directory.hpp"

#include <ldap.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "binding_codec.hpp"
#include "homesip/loop.hpp"

namespace homesip::location_ldap {
namespace {

const std::vector<std::string> kLocationAttributes{"homesipAOR", "homesipRevision", "homesipBinding"};

int64_t parse_integer(const std::string& text, const char* what) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    throw DirectoryDataError(std::string("unreadable ") + what + " '" + text + "'");
  return value;
}

BindingList decode_all(const LdapEntry& entry) {
  BindingList bindings;
  for (const std::string& value : entry.values("homesipbinding")) {
    auto binding = decode_binding(value);
    if (!binding) throw DirectoryDataError("unreadable homesipBinding '" + value + "' in " + entry.dn);
    bindings.push_back(std::move(*binding));
  }
  return bindings;
}

LdapAttributes binding_attributes(const BindingList& bindings, int64_t revision) {
  std::vector<std::string> values;
  int64_t last_expiry = 0;
  for (const Binding& b : bindings) {
    values.push_back(encode_binding(b));
    last_expiry = std::max(last_expiry, b.expires_at);
  }
  return {{"homesipBinding", std::move(values)},
          {"homesipRevision", {std::to_string(revision)}},
          {"homesipExpires", {std::to_string(last_expiry)}}};
}

void refuse(int rc, const std::string& what) {
  throw DirectoryDataError(what + ": " + LdapConnection::describe(rc));
}

}  // namespace

std::string aor_dn(const LdapOptions& options, std::string_view aor) {
  return "homesipAOR=" + escape_dn_value(aor) + "," + options.bindings_dn;
}

std::string user_dn(const LdapOptions& options, std::string_view aor) {
  return "homesipAOR=" + escape_dn_value(aor) + "," + options.users_dn;
}

StoredAor read_aor(LdapConnection& connection, const LdapOptions& options, std::string_view aor) {
  const auto entries = connection.search(aor_dn(options, aor), Scope::kBase, "(objectClass=homesipLocation)",
                                         kLocationAttributes);
  StoredAor stored;
  if (entries.empty()) return stored;
  stored.exists = true;
  stored.revision = parse_integer(entries.front().first("homesiprevision"), "homesipRevision");
  stored.bindings = decode_all(entries.front());
  return stored;
}

bool ensure_container(LdapConnection& connection, const std::string& dn) {
  if (!connection.search(dn, Scope::kBase, "(objectClass=*)", {"1.1"}).empty()) return true;
  if (dn.size() < 4 || (dn.compare(0, 3, "ou=") != 0 && dn.compare(0, 3, "OU=") != 0)) return false;
  const size_t comma = dn.find(',');
  const std::string ou = dn.substr(3, comma == std::string::npos ? std::string::npos : comma - 3);
  const int rc = connection.add(dn, {{"objectClass", {"organizationalUnit"}}, {"ou", {ou}}});
  return rc == LDAP_SUCCESS || rc == LDAP_ALREADY_EXISTS;
}

namespace {
// Two servers writing one AOR at once: the loser of a revision check waits a
// random, growing while (on the worker thread, never the loop) so the two
// stop colliding instead of retrying in lockstep.
void back_off_after_conflict(int attempt) {
  thread_local std::mt19937 random(std::random_device{}());
  const int ceiling_us = std::min(50'000, 500 << std::min(attempt, 7));
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int>(0, ceiling_us)(random)));
}
}  // namespace

UpdateOutcome apply_update(LdapConnection& connection, const LdapOptions& options, std::string_view aor,
                           const BindingEditor& edit) {
  const std::string dn = aor_dn(options, aor);
  for (int attempt = 0; attempt <= options.conflict_retries; ++attempt) {
    if (attempt > 0) back_off_after_conflict(attempt);
    StoredAor stored;
    try {
      stored = read_aor(connection, options, aor);
    } catch (const DirectoryDataError& e) {
      return {StoreStatus::kError, {}, e.what()};
    }
    const int64_t now = unix_now();
    BindingList before = stored.bindings;
    drop_expired(before, now);
    sort_for_lookup(before);
    BindingList after = before;
    bool changed = false;
    try {
      changed = edit(after);
    } catch (const std::exception& e) {
      return {StoreStatus::kError, before, std::string("the editor failed: ") + e.what()};
    }
    // Nothing to write: what was read is what the directory holds, and every
    // earlier update was confirmed by the directory before this one ran.
    if (!changed) return {StoreStatus::kOk, before, {}};
    drop_expired(after, now);
    sort_for_lookup(after);
    if (has_duplicate_contacts(after))
      return {StoreStatus::kError, before, "the editor listed a contact twice"};

    int rc = LDAP_SUCCESS;
    const std::string assertion = "(homesipRevision=" + std::to_string(stored.revision) + ")";
    if (!stored.exists) {
      if (after.empty()) return {StoreStatus::kOk, after, {}};
      LdapAttributes attributes = binding_attributes(after, 1);
      attributes.push_back({"objectClass", {"homesipLocation"}});
      attributes.push_back({"homesipAOR", {std::string(aor)}});
      attributes.push_back({"homesipDomain", {std::string(domain_of(aor))}});
      rc = connection.add(dn, attributes);
      if (rc == LDAP_ALREADY_EXISTS) continue;  // another server created it meanwhile
    } else if (after.empty()) {
      rc = connection.remove(dn, assertion);
      if (rc == LDAP_NO_SUCH_OBJECT) continue;
    } else {
      rc = connection.replace(dn, binding_attributes(after, stored.revision + 1), assertion);
      if (rc == LDAP_NO_SUCH_OBJECT) continue;
    }
    if (rc == LDAP_ASSERTION_FAILED) continue;  // changed by another writer since the read: start over
    if (rc != LDAP_SUCCESS) {
      try {
        refuse(rc, "writing " + dn);
      } catch (const DirectoryDataError& e) {
        return {StoreStatus::kError, before, e.what()};
      }
    }
    return {StoreStatus::kOk, after, {}};
  }
  return {StoreStatus::kUnavailable, {}, "too many concurrent writes of " + std::string(aor)};
}

std::vector<std::string> list_aors(LdapConnection& connection, const LdapOptions& options,
                                   std::string_view domain, int64_t now) {
  const std::string filter = "(&(objectClass=homesipLocation)(homesipDomain=" + escape_filter_value(domain) +
                             ")(homesipExpires>=" + std::to_string(now + 1) + "))";
  const auto entries = connection.search(options.bindings_dn, Scope::kOneLevel, filter, kLocationAttributes);
  std::set<std::string> aors;
  for (const LdapEntry& entry : entries) {
    const std::string aor = entry.first("homesipaor");
    if (domain_of(aor) != domain) continue;
    BindingList bindings = decode_all(entry);
    drop_expired(bindings, now);
    if (!bindings.empty()) aors.insert(aor);
  }
  return {aors.begin(), aors.end()};
}

std::optional<UserRecord> read_user(LdapConnection& connection, const LdapOptions& options,
                                    std::string_view aor) {
  const auto entries = connection.search(user_dn(options, aor), Scope::kBase, "(objectClass=homesipUser)",
                                         {"homesipAOR", "homesipDomain", "homesipHA1"});
  if (entries.empty()) return std::nullopt;
  UserRecord user;
  user.aor = entries.front().first("homesipaor");
  user.domain = entries.front().first("homesipdomain");
  for (const std::string& value : entries.front().values("homesipha1")) {
    const size_t colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::string hex = value.substr(colon + 1);
    const bool is_hex = !hex.empty() && std::all_of(hex.begin(), hex.end(),
                                                    [](unsigned char c) { return std::isxdigit(c) != 0; });
    if (!is_hex) continue;
    std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
    user.ha1_by_realm[value.substr(0, colon)] = hex;
  }
  return user;
}

}  // namespace homesip::location_ldap
