#include "user_commands.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "homesip/digest/digest.hpp"

namespace homesip::auth_digest {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// user@domain with a user and a domain of plain name characters.
bool valid_aor(std::string_view aor) {
  const size_t at = aor.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == aor.size() ||
      aor.find('@', at + 1) != std::string_view::npos)
    return false;
  for (size_t i = 0; i < aor.size(); ++i) {
    const char c = aor[i];
    const bool name = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '+' || c == '!' || c == '~' || c == '*' ||
                      c == '\'' || c == '(' || c == ')';
    if (i != at && !name) return false;
  }
  return true;
}

bool valid_role(std::string_view role) {
  return role == "owner" || role == "member" || role == "guest" || role == "server";
}

std::string unavailable() { return "the user store is unavailable"; }

using Json = nlohmann::ordered_json;  // keys in the order written

// Invalid UTF-8 in a stored name is replaced, never thrown.
std::string text_of(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json user_object(const UserRecord& user) {
  Json algorithms = Json::array();
  for (const UserCredential& credential : user.credentials) algorithms.push_back(credential.algorithm);
  return {{"aor", user.aor}, {"role", user.role}, {"algorithms", algorithms}};
}

}  // namespace

std::string user_json(const UserRecord& user) { return text_of(user_object(user)); }

void UserCommands::put(const std::vector<std::string>& arguments, CommandDone done) {
  if (arguments.size() < 3) return done(false, "usage: user-put AOR ROLE ALG:HA1 [ALG:HA1...]");
  UserRecord user;
  user.aor = arguments[0];
  if (user.aor.rfind("sip:", 0) == 0) user.aor.erase(0, 4);
  if (!valid_aor(user.aor)) return done(false, "'" + arguments[0] + "' is not an AOR such as U1@" + realm_);
  user.domain = user.aor.substr(user.aor.find('@') + 1);
  if (!iequals(user.domain, realm_))
    return done(false, user.aor + " is not in this server's realm " + realm_);
  user.role = arguments[1];
  if (!valid_role(user.role))
    return done(false, "role must be owner, member, guest or server, not '" + user.role + "'");
  for (size_t i = 2; i < arguments.size(); ++i) {
    const std::string& item = arguments[i];
    const size_t colon = item.find(':');
    const auto algorithm = digest::parse_algorithm(std::string_view(item).substr(0, colon));
    if (colon == std::string::npos || !algorithm)
      return done(false, "'" + item.substr(0, colon) + ":...' is not MD5:HA1 or SHA-256:HA1");
    std::string ha1 = item.substr(colon + 1);
    for (char& c : ha1) c = lower(c);
    const size_t length = *algorithm == digest::Algorithm::kMd5 ? 32 : 64;
    if (ha1.size() != length || ha1.find_first_not_of("0123456789abcdef") != std::string::npos)
      return done(false, std::string(digest::algorithm_name(*algorithm)) + " HA1 must be " +
                             std::to_string(length) + " hex digits");
    const std::string name(digest::algorithm_name(*algorithm));
    if (std::any_of(user.credentials.begin(), user.credentials.end(),
                    [&](const UserCredential& c) { return c.algorithm == name; }))
      return done(false, name + " is given twice");
    user.credentials.push_back(UserCredential{user.domain, name, std::move(ha1)});
  }
  users_.put_user(user, [user, done](StoreStatus status) {
    if (status != StoreStatus::kOk) return done(false, unavailable());
    done(true, user_json(user));
  });
}

void UserCommands::del(const std::vector<std::string>& arguments, CommandDone done) {
  if (arguments.size() != 1) return done(false, "usage: user-del AOR");
  std::string aor = arguments[0];
  if (aor.rfind("sip:", 0) == 0) aor.erase(0, 4);
  if (!valid_aor(aor)) return done(false, "'" + arguments[0] + "' is not an AOR such as U1@" + realm_);
  UserStore& users = users_;
  users_.find_user(aor, [&users, aor, done](StoreStatus status, const std::optional<UserRecord>& user) {
    if (status != StoreStatus::kOk) return done(false, unavailable());
    const bool existed = user.has_value();
    users.remove_user(aor, [aor, existed, done](StoreStatus status) {
      if (status != StoreStatus::kOk) return done(false, unavailable());
      done(true, text_of({{"aor", aor}, {"removed", existed}}));
    });
  });
}

void UserCommands::list(const std::vector<std::string>& arguments, CommandDone done) {
  if (arguments.size() > 1) return done(false, "usage: user-list [DOMAIN]");
  const std::string domain = arguments.empty() ? realm_ : arguments[0];
  users_.list_users(domain, [done](StoreStatus status, const std::vector<UserRecord>& users) {
    if (status != StoreStatus::kOk) return done(false, unavailable());
    Json out = Json::array();
    for (const UserRecord& user : users) out.push_back(user_object(user));
    done(true, text_of(out));
  });
}

}  // namespace homesip::auth_digest
