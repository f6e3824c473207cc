// The bare responder: the machine's ceiling for a SIP exchange over UDP. It answers every request
// but an ACK with a minimal 200 OK (sip_text's minimal_ok), in batches (recvmmsg/sendmmsg), on
// one thread, and keeps no state: what a server could do at best with one core.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace homesip::loadgen {

struct ResponderOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  double max_seconds = 600;  // bounded even when nobody stops it
};

struct ResponderReport {
  uint64_t requests = 0;                         // answered
  std::map<uint16_t, uint64_t> per_source_port;  // requests answered per source port
};

// Runs until SIGTERM or SIGINT, or max_seconds; says what it answered.
ResponderReport run_responder(const ResponderOptions& options);

}  // namespace homesip::loadgen
