// Where a listener binds: the config allows an IP or a host name for every
// transport, resolved the same way for UDP and for TCP/TLS.
#pragma once

#include <sofia-sip/su.h>

#include <vector>

#include "config.hpp"
#include "homesip/uri.hpp"

namespace homesip::core {

// An IP as written, or a host name's first IPv4 address (else its first IPv6
// one), with the listener's port. Throws std::runtime_error naming the listener.
su_sockaddr_t resolve_listen_address(const ListenAddress& address);

socklen_t address_length(const su_sockaddr_t& address);

// True when the URI's host and port (5060 when absent, 5061 for sips:) are
// one listener's, host compared as written (no resolution: a listener on
// 0.0.0.0 matches no URI). What PluginContext::addresses_me() and the Route
// check answer.
bool addresses_listener(const std::vector<ListenAddress>& listeners, const UriView& uri);

}  // namespace homesip::core
