#include "listen_address.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace homesip::core {
namespace {

// Whether a socket outside our SO_REUSEPORT group holds `local`: a second
// server on the same port would otherwise share the datagrams and the
// connections silently (the kernel lets every socket of one user that asks
// join the group).
bool address_taken(const su_sockaddr_t& local, int type) {
  const int probe = ::socket(local.su_family, type | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const int on = 1;
  // TIME_WAIT of an earlier run's connections is no holder; a listener is.
  if (type == SOCK_STREAM) ::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const bool taken = ::bind(probe, &local.su_sa, address_length(local)) != 0 && errno == EADDRINUSE;
  ::close(probe);
  return taken;
}

}  // namespace

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

int bind_listener_socket(const ListenAddress& address, int type, PortSharing sharing) {
  const su_sockaddr_t local = resolve_listen_address(address);
  const auto fail = [&](int error) {
    return std::runtime_error("cannot listen on " + address.text() + ": " + std::strerror(error));
  };
  if (sharing == PortSharing::kFirst && address_taken(local, type)) throw fail(EADDRINUSE);
  const int fd = ::socket(local.su_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(errno);
  const int on = 1;
  const bool options_set =
      (type != SOCK_STREAM || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0) &&
      (sharing == PortSharing::kAlone || ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0);
  if (!options_set || ::bind(fd, &local.su_sa, address_length(local)) != 0) {
    const int error = errno;
    ::close(fd);
    throw fail(error);
  }
  return fd;
}

bool steer_port_group_to_first(int fd) {
  // A classic BPF program that picks socket 0 of the group, the first bound.
  sock_filter first[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  sock_fprog program{1, first};
  return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) == 0;
}

bool spread_port_group_by_source(int fd, uint32_t sockets, uint16_t key) {
  if (sockets < 2) return true;
  if (fd < 0 || sockets > 0xffff) {  // the scaling below takes 16 bits of hash
    errno = EINVAL;
    return false;
  }
  // Classic BPF on the datagram or SYN, offsets from its IP header: the
  // socket is picked by a Fibonacci hash of (a mix of the source address +
  // the source port + `key`). One sender always lands on one socket (its
  // retransmissions and its requests' resumptions stay on one loop), as with
  // the kernel's own hash. That hash treats the senders as random: 8 senders
  // on 2 loops are split 4:4 in 27 % of cases, 5:3 in 44 %, 6:2 or worse in
  // 29 %, and the split changes from run to run with the ports. A Fibonacci
  // hash spreads the ports of one address that step by 1, 2 or 4 (a load
  // generator, SIPp instances, a NAT that allocates in sequence, keeping
  // parity or not): 8 such senders on 2 loops 4:4 (78 % of first ports) or
  // 5:3, never worse; 32 on 4 loops 7 to 10 each. Ports that step by a
  // Fibonacci number (8, 13, 21, ...) fall together more often than by the
  // kernel's hash (8 senders stepping by 8: all on one loop in 22 % of
  // cases). Senders at many addresses (phones on port 5060) spread as by the
  // kernel's hash. `key` (random per start) keeps a sender from choosing
  // its loop; the figures hold for every key. IPv4 without options, IPv6
  // without extension headers (with them the same bytes still name one
  // sender).
  constexpr uint32_t kNet = static_cast<uint32_t>(SKF_NET_OFF);
  constexpr uint32_t kGolden = 0x9E3779B1u;  // 2^32 / phi: multiplicative mixing
  sock_filter spread[] = {
      /* 0 */ {BPF_LD | BPF_B | BPF_ABS, 0, 0, kNet + 0},  // version and header length
      /* 1 */ {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4},
      /* 2 */ {BPF_JMP | BPF_JEQ | BPF_K, 0, 15, 6},  // IPv6 on, IPv4 to 18
      // IPv6: the source address's four words XORed and mixed; the port at 40.
      /* 3 */ {BPF_LD | BPF_W | BPF_ABS, 0, 0, kNet + 8},
      /* 4 */ {BPF_MISC | BPF_TAX, 0, 0, 0},
      /* 5 */ {BPF_LD | BPF_W | BPF_ABS, 0, 0, kNet + 12},
      /* 6 */ {BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0},
      /* 7 */ {BPF_MISC | BPF_TAX, 0, 0, 0},
      /* 8 */ {BPF_LD | BPF_W | BPF_ABS, 0, 0, kNet + 16},
      /* 9 */ {BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0},
      /* 10 */ {BPF_MISC | BPF_TAX, 0, 0, 0},
      /* 11 */ {BPF_LD | BPF_W | BPF_ABS, 0, 0, kNet + 20},
      /* 12 */ {BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0},
      /* 13 */ {BPF_ALU | BPF_MUL | BPF_K, 0, 0, kGolden},
      /* 14 */ {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},
      /* 15 */ {BPF_MISC | BPF_TAX, 0, 0, 0},
      /* 16 */ {BPF_LD | BPF_H | BPF_ABS, 0, 0, kNet + 40},
      /* 17 */ {BPF_JMP | BPF_JA, 0, 0, 5 /* to 23 */},
      // IPv4: the source address at 12, mixed; the port at 20.
      /* 18 */ {BPF_LD | BPF_W | BPF_ABS, 0, 0, kNet + 12},
      /* 19 */ {BPF_ALU | BPF_MUL | BPF_K, 0, 0, kGolden},
      /* 20 */ {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},
      /* 21 */ {BPF_MISC | BPF_TAX, 0, 0, 0},
      /* 22 */ {BPF_LD | BPF_H | BPF_ABS, 0, 0, kNet + 20},
      // Both: the port plus the mixed address plus the key, mixed again and
      // scaled to the sockets by its top 16 bits (Fibonacci hashing).
      /* 23 */ {BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0},
      /* 24 */ {BPF_ALU | BPF_ADD | BPF_K, 0, 0, key},
      /* 25 */ {BPF_ALU | BPF_MUL | BPF_K, 0, 0, kGolden},
      /* 26 */ {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},
      /* 27 */ {BPF_ALU | BPF_MUL | BPF_K, 0, 0, sockets},
      /* 28 */ {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},
      /* 29 */ {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog program{static_cast<unsigned short>(std::size(spread)), spread};
  return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) == 0;
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
