#include "responder.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "sip_text.hpp"
#include "udp.hpp"

namespace homesip::loadgen {

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

}  // namespace

ResponderReport run_responder(const ResponderOptions& options) {
  const int fd = bound_udp_socket(options.host, options.port);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  std::vector<char> buffers(kBatch * kDatagram);
  std::vector<std::string> answers(kBatch);
  mmsghdr in[kBatch], out[kBatch];
  iovec in_vectors[kBatch], out_vectors[kBatch];
  sockaddr_in peers[kBatch];
  ResponderReport answered;
  const int64_t deadline = now_ns() + static_cast<int64_t>(options.max_seconds * 1e9);
  while (!stop_requested && now_ns() < deadline) {
    for (int k = 0; k < kBatch; ++k) {
      in_vectors[k] = {buffers.data() + k * kDatagram, kDatagram};
      in[k] = {};
      in[k].msg_hdr.msg_iov = &in_vectors[k];
      in[k].msg_hdr.msg_iovlen = 1;
      in[k].msg_hdr.msg_name = &peers[k];
      in[k].msg_hdr.msg_namelen = sizeof peers[k];
    }
    const int n = ::recvmmsg(fd, in, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      pollfd readable{fd, POLLIN, 0};
      ::poll(&readable, 1, 100);  // wakes to see a stop request or the deadline
      continue;
    }
    int replies = 0;
    for (int k = 0; k < n; ++k) {
      if (!minimal_ok({buffers.data() + k * kDatagram, in[k].msg_len}, answers[replies])) continue;
      out_vectors[replies] = {answers[replies].data(), answers[replies].size()};
      out[replies] = {};
      out[replies].msg_hdr.msg_iov = &out_vectors[replies];
      out[replies].msg_hdr.msg_iovlen = 1;
      out[replies].msg_hdr.msg_name = &peers[k];
      out[replies].msg_hdr.msg_namelen = in[k].msg_hdr.msg_namelen;
      ++answered.per_source_port[ntohs(peers[k].sin_port)];
      ++replies;
    }
    for (int sent = 0; sent < replies;) {
      const int m = ::sendmmsg(fd, out + sent, static_cast<unsigned>(replies - sent), 0);
      sent += m > 0 ? m : 1;  // a refused datagram is dropped, as a server would
    }
    answered.requests += static_cast<uint64_t>(replies);
  }
  ::close(fd);
  return answered;
}

}  // namespace homesip::loadgen
