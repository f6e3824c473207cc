#include "tree_settings.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "homesip/uri.hpp"
#include "jurisdiction.hpp"

namespace homesip::tree {
namespace {

const SettingSpec kSpecs[] = {
    {"name", SettingType::kString, nullptr, "this server's name in the tree (H1 of H1@C1.D1)"},
    {"domain", SettingType::kString, "",
     "where this server stands (C1.D1 of H1@C1.D1); empty: it is the top server"},
    {"top", SettingType::kString, "",
     "the top server's sip: URI (sip:192.0.2.1:5060); required unless this is the top"},
    {"register_expires", SettingType::kInteger, "120",
     "seconds of registration asked of the parent, 10..86400"},
    {"contact", SettingType::kString, "",
     "how the parent reaches this server (a sip: URI); empty: the first listener (sip:NAME@host:port)"},
    {"keepalive_interval", SettingType::kInteger, "5",
     "seconds between OPTIONS to each child server, 0..3600; 0: no keepalives"},
    {"keepalive_misses", SettingType::kInteger, "3",
     "unanswered keepalives in a row before a child server is offline, 1..100"},
    {"redirect_methods", SettingType::kStringList, "[INVITE, MESSAGE, SUBSCRIBE, OPTIONS]",
     "request methods redirected by their Request-URI (REGISTER is always judged by its To)"},
    {"resolver_cache_entries", SettingType::kInteger, "1024",
     "servers the resolver keeps by domain for phones' calls, 1..1000000"},
    {"resolver_cache_seconds", SettingType::kInteger, "60",
     "seconds a server learned by the resolver is trusted, 0..86400"},
    {"password_file", SettingType::kString, "",
     "a file whose first line is this server's password at its parent (digest; the parent's user "
     "NAME@DOMAIN, role server); owner-only (chmod 600); empty: no password"},
};

std::string checked_name(const Settings& s) {
  std::string name = s.get_string("name");
  if (!redirect::valid_label(name))
    throw ConfigError("name",
                      "name must be one label of letters, digits, '-' or '_' (H1), not '" + name + "'");
  return name;
}

std::string checked_domain(const Settings& s) {
  std::string domain = s.get_string("domain");
  if (!domain.empty() && !redirect::valid_domain(domain))
    throw ConfigError(
        "domain", "domain must be dot-separated labels (C1.D1) or empty at the top, not '" + domain + "'");
  return domain;
}

bool is_sip_uri(const std::string& text) { return parse_uri(text).has_value(); }

std::string checked_top(const Settings& s, bool at_top) {
  std::string top = s.get_string("top");
  if (at_top && !top.empty())
    throw ConfigError("top",
                      "top is given but domain is empty, which makes this server the top: "
                      "give this server's domain, or remove top");
  if (!at_top && top.empty())
    throw ConfigError("top",
                      "top is required below the top server (domain is set): the top server's "
                      "address, e.g. sip:192.0.2.1:5060");
  if (!top.empty() && !is_sip_uri(top))
    throw ConfigError("top", "top must be a sip: or sips: URI, e.g. sip:192.0.2.1:5060, not '" + top + "'");
  return top;
}

std::string checked_contact(const Settings& s) {
  std::string contact = s.get_string("contact");
  if (!contact.empty() && !is_sip_uri(contact))
    throw ConfigError(
        "contact",
        "contact must be a sip: or sips: URI (sip:H1@192.0.2.5:5060) or empty, not '" + contact + "'");
  return contact;
}

// The first line of the password file, which must be a regular file no one
// but its owner may read or write.
std::string checked_password(const std::string& path, bool at_top) {
  if (path.empty()) return {};
  if (at_top)
    throw ConfigError(
        "password_file",
        "password_file is given but this server is the top, which registers nowhere: remove it");
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw ConfigError("password_file", "cannot read password_file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw ConfigError("password_file", "password_file " + path + " is not a file");
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(info.st_mode & 0777));
    throw ConfigError("password_file", "password_file " + path + " is open to group or others (mode " + mode +
                                           "): chmod 600 " + path);
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line))
    throw ConfigError("password_file", "cannot read password_file " + path + " (empty?)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw ConfigError("password_file", "password_file " + path + " has an empty first line");
  return line;
}

}  // namespace

StaticList<SettingSpec> tree_setting_specs() { return kSpecs; }

TreeSettings read_tree_settings(const Settings& s) {
  TreeSettings t;
  t.me.name = checked_name(s);
  t.me.domain = checked_domain(s);
  t.top = checked_top(s, t.is_top());
  t.register_expires = static_cast<uint32_t>(integer_in_range(s, "register_expires", 10, 86400));
  t.contact = checked_contact(s);
  t.keepalive_interval = std::chrono::seconds(integer_in_range(s, "keepalive_interval", 0, 3600));
  t.keepalive_misses = static_cast<int>(integer_in_range(s, "keepalive_misses", 1, 100));
  t.redirect_methods = s.get_string_list("redirect_methods");
  t.resolver_cache_entries = static_cast<size_t>(integer_in_range(s, "resolver_cache_entries", 1, 1000000));
  t.resolver_cache_seconds = std::chrono::seconds(integer_in_range(s, "resolver_cache_seconds", 0, 86400));
  t.password_file = s.get_string("password_file");
  t.password = checked_password(t.password_file, t.is_top());
  redirect::check_policy(t.redirect_policy());
  return t;
}

}  // namespace homesip::tree
