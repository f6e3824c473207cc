// Where a listener binds: the config allows an IP or a host name for every
// transport, resolved the same way for UDP and for TCP/TLS.
#pragma once

#include <sofia-sip/su.h>

#include <cstdint>
#include <vector>

#include "config.hpp"
#include "homesip/uri.hpp"

namespace homesip::core {

// An IP as written, or a host name's first IPv4 address (else its first IPv6
// one), with the listener's port. Throws std::runtime_error naming the listener.
su_sockaddr_t resolve_listen_address(const ListenAddress& address);

socklen_t address_length(const su_sockaddr_t& address);

// How a listener's socket shares its address. Above one loop (server.loops),
// each loop has its own socket in the address's SO_REUSEPORT group, and one
// is picked by the sender's address and port (spread_port_group_by_source):
// for a datagram, for a connection (which that loop then serves to its end).
enum class PortSharing {
  kAlone,  // one loop: the address is ours alone
  kFirst,  // the group's first socket: refused when another socket holds the address
  kJoin,   // another loop's socket in our group
};

// A non-blocking socket of `type` (SOCK_DGRAM or SOCK_STREAM) bound to
// `address` as `sharing` says; a stream socket may be bound while
// connections of an earlier run linger in TIME_WAIT. Throws
// std::runtime_error naming the address.
int bind_listener_socket(const ListenAddress& address, int type, PortSharing sharing);

// From now on the kernel gives every new datagram or connection of `fd`'s
// SO_REUSEPORT group to the group's first socket (the main loop's): the
// other loops take nothing new while the server stops. False when the
// kernel refuses.
bool steer_port_group_to_first(int fd);

// Has the kernel give each new datagram or connection of `fd`'s SO_REUSEPORT
// group of `sockets` sockets to the socket a Fibonacci hash of (source
// address mixed + source port + `key`) picks: one sender always to one
// socket, the ports of one address that step by 1, 2 or 4 spread evenly.
// False (errno set) when refused (then the kernel's own hash stays).
bool spread_port_group_by_source(int fd, uint32_t sockets, uint16_t key);

// True when the URI's host and port (5060 when absent, 5061 for sips:) are
// one listener's, host compared as written (no resolution: a listener on
// 0.0.0.0 matches no URI). What PluginContext::addresses_me() and the Route
// check answer.
bool addresses_listener(const std::vector<ListenAddress>& listeners, const UriView& uri);

}  // namespace homesip::core
