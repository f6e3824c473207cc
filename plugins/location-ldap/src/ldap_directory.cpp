#include "ldap_directory.hpp"

#include <ldap.h>

#include <algorithm>
#include <cctype>
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

size_t count_aors(LdapConnection& connection, const LdapOptions& options, int64_t now) {
  const std::string filter =
      "(&(objectClass=homesipLocation)(homesipExpires>=" + std::to_string(now + 1) + "))";
  return connection.search(options.bindings_dn, Scope::kOneLevel, filter, {LDAP_NO_ATTRS}).size();
}

namespace {

const std::vector<std::string> kUserAttributes{"homesipAOR", "homesipDomain", "homesipRole", "homesipHA1"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

UserRecord user_of(const LdapEntry& entry) {
  UserRecord user;
  user.aor = entry.first("homesipaor");
  user.domain = entry.first("homesipdomain");
  user.role = entry.first("homesiprole");
  for (const std::string& value : entry.values("homesipha1"))
    if (auto credential = parse_ha1_value(value)) user.credentials.push_back(std::move(*credential));
  return user;
}

// Users under users_dn matching `filter` (one level).
std::vector<LdapEntry> search_users(LdapConnection& connection, const LdapOptions& options,
                                    const std::string& filter) {
  return connection.search(options.users_dn, Scope::kOneLevel, "(&(objectClass=homesipUser)" + filter + ")",
                           kUserAttributes);
}

// The entry of `aor`: at its DN when spelled as stored, else found ignoring
// case (homesipAOR is caseExact in the schema; the filter picks the rule).
std::optional<LdapEntry> find_user_entry(LdapConnection& connection, const LdapOptions& options,
                                         std::string_view aor) {
  auto exact =
      connection.search(user_dn(options, aor), Scope::kBase, "(objectClass=homesipUser)", kUserAttributes);
  if (!exact.empty()) return std::move(exact.front());
  auto any_case =
      search_users(connection, options, "(homesipAOR:caseIgnoreMatch:=" + escape_filter_value(aor) + ")");
  if (any_case.empty()) return std::nullopt;
  return std::move(any_case.front());
}

}  // namespace

std::optional<UserCredential> parse_ha1_value(std::string_view value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string hex = lower(value.substr(colon + 1));
  if (!std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c) != 0; }))
    return std::nullopt;
  // RFC 7616/8760: the HA1's length tells its hash.
  const char* algorithm = hex.size() == 32 ? "MD5" : hex.size() == 64 ? "SHA-256" : nullptr;
  if (!algorithm) return std::nullopt;
  return UserCredential{std::string(value.substr(0, colon)), algorithm, std::move(hex)};
}

std::optional<std::string> ha1_value(const UserCredential& credential) {
  const size_t length = credential.algorithm == "MD5" ? 32 : credential.algorithm == "SHA-256" ? 64 : 0;
  if (length == 0 || credential.ha1.size() != length || credential.realm.empty() ||
      !std::all_of(credential.ha1.begin(), credential.ha1.end(),
                   [](unsigned char c) { return std::isxdigit(c) != 0; }))
    return std::nullopt;
  return credential.realm + ":" + lower(credential.ha1);
}

std::optional<UserRecord> read_user(LdapConnection& connection, const LdapOptions& options,
                                    std::string_view aor) {
  auto entry = find_user_entry(connection, options, aor);
  if (!entry) return std::nullopt;
  return user_of(*entry);
}

std::vector<UserRecord> list_users(LdapConnection& connection, const LdapOptions& options,
                                   std::string_view domain) {
  std::vector<UserRecord> users;
  for (const LdapEntry& entry : search_users(
           connection, options, "(homesipDomain:caseIgnoreMatch:=" + escape_filter_value(domain) + ")"))
    users.push_back(user_of(entry));
  std::sort(users.begin(), users.end(),
            [](const UserRecord& a, const UserRecord& b) { return lower(a.aor) < lower(b.aor); });
  return users;
}

void write_user(LdapConnection& connection, const LdapOptions& options, const UserRecord& user) {
  std::vector<std::string> ha1;
  for (const UserCredential& credential : user.credentials) {
    auto value = ha1_value(credential);
    if (!value)
      throw DirectoryDataError("a " + credential.algorithm + " HA1 of " + user.aor + " is not valid hex");
    ha1.push_back(std::move(*value));
  }
  const std::string domain = user.domain.empty() ? std::string(domain_of(user.aor)) : user.domain;
  auto role = user.role.empty() ? std::vector<std::string>{} : std::vector<std::string>{user.role};
  // Replacing another spelling of the AOR: that entry goes, this one is written.
  if (auto existing = find_user_entry(connection, options, user.aor);
      existing && existing->dn != user_dn(options, user.aor))
    if (const int rc = connection.remove(existing->dn, ""); rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
      refuse(rc, "removing " + existing->dn);
  const std::string dn = user_dn(options, user.aor);
  for (int attempt = 0; attempt < 3; ++attempt) {
    int rc =
        connection.replace(dn, {{"homesipDomain", {domain}}, {"homesipRole", role}, {"homesipHA1", ha1}}, "");
    if (rc == LDAP_NO_SUCH_OBJECT) {
      LdapAttributes attributes{
          {"objectClass", {"homesipUser"}}, {"homesipAOR", {user.aor}}, {"homesipDomain", {domain}}};
      if (!role.empty()) attributes.push_back({"homesipRole", role});
      if (!ha1.empty()) attributes.push_back({"homesipHA1", ha1});
      rc = connection.add(dn, attributes);
      if (rc == LDAP_NO_SUCH_OBJECT && ensure_container(connection, options.users_dn)) continue;
      if (rc == LDAP_ALREADY_EXISTS) continue;  // another writer created it meanwhile: replace it
    }
    if (rc != LDAP_SUCCESS) refuse(rc, "writing " + dn);
    return;
  }
  throw DirectoryDataError("writing " + dn + ": it keeps changing");
}

void delete_user(LdapConnection& connection, const LdapOptions& options, std::string_view aor) {
  const auto entry = find_user_entry(connection, options, aor);
  if (!entry) return;
  const int rc = connection.remove(entry->dn, "");
  if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) refuse(rc, "removing " + entry->dn);
}

}  // namespace homesip::location_ldap
