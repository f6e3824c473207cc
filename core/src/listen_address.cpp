#include "listen_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace homesip::core {

su_sockaddr_t resolve_listen_address(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(address.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) throw std::runtime_error("cannot listen on " + address.text() + ": " + ::gai_strerror(rc));
  const addrinfo* chosen = found;
  for (const addrinfo* a = found; a; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      chosen = a;
      break;
    }
  su_sockaddr_t local{};
  std::memcpy(&local, chosen->ai_addr, std::min<size_t>(chosen->ai_addrlen, sizeof local));
  ::freeaddrinfo(found);
  local.su_port = htons(address.port);
  return local;
}

socklen_t address_length(const su_sockaddr_t& address) {
  return address.su_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool addresses_listener(const std::vector<ListenAddress>& listeners, const UriView& uri) {
  uint16_t port = uri.scheme == "sips" ? 5061 : 5060;
  if (!uri.port.empty() && (port = uri.port_number()) == 0) return false;
  std::string_view host = uri.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::any_of(listeners.begin(), listeners.end(), [&](const ListenAddress& listener) {
    return listener.port == port && listener.host.size() == host.size() &&
           std::equal(host.begin(), host.end(), listener.host.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
}

}  // namespace homesip::core
