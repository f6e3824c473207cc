// How bindings and names are spelled in the directory, and the settings.
#include <gtest/gtest.h>

#include <map>

#include "binding_codec.hpp"
#include "ldap_options.hpp"

namespace homesip::location_ldap {
namespace {

TEST(BindingCodec, RoundTripsEveryField) {
  Binding b;
  b.contact = "sip:u1@192.0.2.7:5060;transport=tcp;ob";
  b.expires_at = 1893456000;
  b.q_millis = 700;
  b.call_id = "a84b4c76e66710@pc33";
  b.cseq = 4294967295u;
  b.source = "udp:192.0.2.7:5060";
  b.instance = "<urn:uuid:00000000-0000-0000-0000-000000000001>";
  b.user_agent = "Phone 1.0 (100% \xc3\xa9t\xc3\xa9) - x";
  const std::string value = encode_binding(b);
  for (char c : value) EXPECT_TRUE(c >= 0x20 && c < 0x7F) << value;
  const auto back = decode_binding(value);
  ASSERT_TRUE(back.has_value()) << value;
  EXPECT_EQ(back->contact, b.contact);
  EXPECT_EQ(back->expires_at, b.expires_at);
  EXPECT_EQ(back->q_millis, b.q_millis);
  EXPECT_EQ(back->call_id, b.call_id);
  EXPECT_EQ(back->cseq, b.cseq);
  EXPECT_EQ(back->source, b.source);
  EXPECT_EQ(back->instance, b.instance);
  EXPECT_EQ(back->user_agent, b.user_agent);
}

TEST(BindingCodec, EmptyStringsSurvive) {
  Binding b;
  b.contact = "sip:x@h";
  b.expires_at = 5;
  const auto back = decode_binding(encode_binding(b));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->call_id, "");
  EXPECT_EQ(back->instance, "");
  b.call_id = "-";
  EXPECT_EQ(decode_binding(encode_binding(b))->call_id, "-");
}

TEST(BindingCodec, RejectsWhatItDoesNotUnderstand) {
  EXPECT_FALSE(decode_binding(""));
  EXPECT_FALSE(decode_binding("v2 sip:x 1 1 1 - - - -"));
  EXPECT_FALSE(decode_binding("v1 sip:x 1 1 1 - - -"));
  EXPECT_FALSE(decode_binding("v1 sip:x one 1 1 - - - -"));
  EXPECT_FALSE(decode_binding("v1 sip:x 1 99999 1 - - - -"));  // q beyond uint16
  EXPECT_FALSE(decode_binding("v1 sip:%4 1 1 1 - - - -"));
  EXPECT_FALSE(decode_binding("v1 - 1 1 1 - - - -"));  // no contact
  EXPECT_TRUE(decode_binding("v1 sip:x 1 1 1 - - - -"));
}

TEST(Escaping, DnValues) {
  EXPECT_EQ(escape_dn_value("u1@c1.d1.h1"), "u1@c1.d1.h1");
  EXPECT_EQ(escape_dn_value("a,b+c=d\\e"), "a\\,b\\+c\\=d\\\\e");
  EXPECT_EQ(escape_dn_value("#x "), "\\#x\\ ");
  EXPECT_EQ(escape_dn_value(std::string("a\0b", 3)), "a\\00b");
}

TEST(Escaping, FilterValues) {
  EXPECT_EQ(escape_filter_value("c1.d1"), "c1.d1");
  EXPECT_EQ(escape_filter_value("a*(b)\\"), "a\\2A\\28b\\29\\5C");
}

TEST(Ordering, HighestQThenLatestExpiry) {
  BindingList list;
  for (auto [contact, q, exp] : {std::tuple{"a", 500, 10}, {"b", 1000, 5}, {"c", 500, 20}}) {
    Binding b;
    b.contact = contact;
    b.q_millis = static_cast<uint16_t>(q);
    b.expires_at = exp;
    list.push_back(b);
  }
  sort_for_lookup(list);
  EXPECT_EQ(list[0].contact, "b");
  EXPECT_EQ(list[1].contact, "c");
  EXPECT_EQ(list[2].contact, "a");
  drop_expired(list, 10);
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(domain_of("u@c1.d1.h1"), "c1.d1.h1");
  EXPECT_EQ(domain_of("host"), "host");
}

class MapSettings final : public Settings {
 public:
  std::map<std::string, std::string, std::less<>> values;
  MapSettings() {
    for (const SettingSpec& spec : kLocationLdapSettings)
      if (spec.default_value) values[spec.key] = spec.default_value;
  }
  std::string get_string(std::string_view key) const override { return find(key); }
  int64_t get_int(std::string_view key) const override { return std::stoll(find(key)); }
  bool get_bool(std::string_view key) const override { return find(key) == "true"; }
  std::vector<std::string> get_string_list(std::string_view) const override { return {}; }
  bool is_set(std::string_view key) const override { return values.contains(key); }
  std::string where(std::string_view key) const override { return std::string(key); }

 private:
  std::string find(std::string_view key) const {
    const auto found = values.find(key);
    if (found == values.end()) throw ConfigError(std::string(key), "missing");
    return found->second;
  }
};

TEST(Settings, DefaultsAndDerivedContainers) {
  MapSettings settings;
  settings.values["base_dn"] = "o=homesip";
  const LdapOptions options = read_settings(settings);
  EXPECT_EQ(options.uri, "ldap://127.0.0.1:389");
  EXPECT_EQ(options.bindings_dn, "ou=bindings,o=homesip");
  EXPECT_EQ(options.users_dn, "ou=users,o=homesip");
  EXPECT_EQ(options.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(options.cache, std::chrono::milliseconds(1000));
}

TEST(Settings, RefusesNonsense) {
  auto refused_key = [](std::map<std::string, std::string> changes) {
    MapSettings settings;
    settings.values["base_dn"] = "o=homesip";
    for (auto& [k, v] : changes) settings.values[k] = v;
    try {
      read_settings(settings);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused_key({{"base_dn", ""}}), "base_dn");
  EXPECT_EQ(refused_key({{"uri", "http://x"}}), "uri");
  EXPECT_EQ(refused_key({{"sasl_mech", "GSSAPI"}}), "sasl_mech");
  EXPECT_EQ(refused_key({{"starttls", "true"}, {"uri", "ldaps://x"}}), "starttls");
  EXPECT_EQ(refused_key({{"timeout_ms", "0"}}), "timeout_ms");
  EXPECT_EQ(refused_key({{"reconnect_min_ms", "1000"}, {"reconnect_max_ms", "10"}}), "reconnect_max_ms");
  EXPECT_EQ(refused_key({{"password_file", "/nonexistent/pw"}}), "password_file");
  EXPECT_EQ(refused_key({{"sasl_mech", "external"}, {"uri", "ldapi://%2Frun%2Fslapd%2Fldapi"}}), "accepted");
}

}  // namespace
}  // namespace homesip::location_ldap
