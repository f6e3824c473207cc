// One whole SIP message's bytes parsed by sofia-sip's parser into a msg_t of
// its own, the same way for every transport.
#pragma once

#include <sofia-sip/su.h>

#include <string_view>

struct msg_s;

namespace homesip::core {

// The parsed message (flagged MSG_FLG_ERROR when sofia found it malformed or
// incomplete), with `from` as its address; null when allocation failed.
msg_s* parse_sip_message(std::string_view bytes, const su_sockaddr_t& from, socklen_t from_length);

}  // namespace homesip::core
