// How bindings and names are spelled in the directory: one homesipBinding
// value per binding, DNs and search filters escaped per RFC 4514 / 4515, and
// the list order every store answer uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "homesip/binding_list.hpp"
#include "homesip/location_store.hpp"

namespace homesip::location_ldap {

// "v1 <contact> <expires_at> <q_millis> <cseq> <call_id> <source> <instance>
// <user_agent>": strings percent-encoded (every byte outside printable ASCII,
// and ' ', '%', '-'), an empty string as "-". Printable ASCII only (IA5).
std::string encode_binding(const Binding& binding);
// nullopt when `value` is not a binding this version understands.
std::optional<Binding> decode_binding(std::string_view value);

// An attribute value escaped for use as an RDN value (RFC 4514).
std::string escape_dn_value(std::string_view value);
// An assertion value escaped for a search filter (RFC 4515).
std::string escape_filter_value(std::string_view value);

// domain_of, sort_for_lookup, drop_expired, has_duplicate_contacts: homesip/binding_list.hpp.

}  // namespace homesip::location_ldap
