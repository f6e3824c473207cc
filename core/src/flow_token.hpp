// Flows (RFC 5626): the connection a phone registered over is the only way to
// reach a phone that listens nowhere a server could connect to (baresip's TLS
// Contact names a port without a certificate; any phone behind NAT). The core
// names such a connection by its source, "tls:IP:PORT" as a binding keeps it,
// and puts that name, sealed with an HMAC under a secret of this process, in
// the Record-Route of a dialog with the phone. A request that comes back with
// that Route is sent on the same connection; a forged or foreign token names
// nothing, so nobody can make the server write onto another client's
// connection. Connections end with the process: so does the secret.
#pragma once

#include <sys/socket.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace homesip::core {

// The parts of "tls:192.0.2.7:40112" or "tcp:[2001:db8::1]:40112".
struct FlowAddress {
  std::string transport;  // "tcp" or "tls"
  sockaddr_storage peer{};
};

// Reads a binding's source as a flow: TCP or TLS only (UDP has no connection
// to keep to), an IP address, a port 1..65535.
std::optional<FlowAddress> parse_flow(std::string_view source);

class FlowTokens {
 public:
  FlowTokens();  // a fresh random secret
  // "<source>~<mac>": a URI parameter value (RFC 3261 paramchar) naming the
  // flow, for the dialog with Call-ID `dialog` only.
  std::string seal(std::string_view source, std::string_view dialog) const;
  // The source of a token this process sealed for `dialog`; nullopt for
  // anything else.
  std::optional<std::string> open(std::string_view token, std::string_view dialog) const;
  // HMAC-SHA256 of `text` under the secret, its first `bytes` bytes as hex:
  // what only this process can write (the branches of the Vias it adds).
  std::string mac(std::string_view text, size_t bytes = 16) const;
  // Whether `given` is mac(text, given's length / 2), compared in constant time.
  bool matches(std::string_view text, std::string_view given) const;

 private:
  std::array<unsigned char, 32> secret_{};
};

}  // namespace homesip::core
