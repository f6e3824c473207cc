#include "sip_message.hpp"

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_parser.h>

#include <algorithm>
#include <cstring>

namespace homesip::core {
namespace {
// Room for the parsed headers of a typical request, next to its bytes.
constexpr size_t kParsedHeadersSize = 3072;
}  // namespace

msg_t* parse_sip_message(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length) {
  // EXTRACT_COPY keeps each header's raw bytes: responses copy them as they are.
  msg_t* msg = msg_create(sip_default_mclass(), MSG_FLG_EXTRACT_COPY);
  if (!msg) return nullptr;
  // One block for the bytes and every parsed header, as nta does: a malloc
  // and free per header was a tenth of a REGISTER's instructions.
  su_home_preload(msg_home(msg), 1, static_cast<isize_t>(bytes.size() + kParsedHeadersSize));
  msg_iovec_t iov[2];
  const auto pieces = msg_recv_iovec(msg, iov, 2, bytes.size(), 1);
  if (pieces < 0) {
    msg_destroy(msg);
    return nullptr;
  }
  size_t copied = 0;
  for (isize_t i = 0; i < pieces && copied < bytes.size(); ++i) {
    const size_t n = std::min<size_t>(iov[i].mv_len, bytes.size() - copied);
    std::memcpy(iov[i].mv_base, bytes.data() + copied, n);
    copied += n;
  }
  msg_recv_commit(msg, bytes.size(), 1);
  msg_set_address(msg, &from, from_length);
  // The bytes are the whole message: what the parser still waits for is missing.
  if (msg_extract(msg) == 0) msg_mark_as_complete(msg, MSG_FLG_ERROR);
  return msg;
}

}  // namespace homesip::core
