#include "listen_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
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

}  // namespace homesip::core
