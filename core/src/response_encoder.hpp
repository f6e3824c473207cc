// Stateless SIP responses written straight to bytes, for the UDP transport the
// core owns. nta_msg_treply builds a whole sofia message (copies every header,
// parses the reply's strings back into objects, encodes the lot): half of a
// REGISTER's cost. Here the request's own header lines are copied and the
// reply's fields appended, as RFC 3261 8.2.6.2 asks of a response.
#pragma once

#include <sofia-sip/su.h>

#include <string>
#include <string_view>

#include "homesip/reply.hpp"
#include "homesip/version.hpp"

struct sip_s;
struct sip_via_s;

namespace homesip::core {

// The Server header's value in every response, whichever transport sends it.
inline constexpr char kServerProduct[] =
    "homesip/" HOMESIP_SDK_STR(HOMESIP_SDK_VERSION_MAJOR) "." HOMESIP_SDK_STR(HOMESIP_SDK_VERSION_MINOR);

// The IP of `address` as text ("192.0.2.1", "::1"), without brackets.
std::string_view address_text(const su_sockaddr_t& address, char (&buffer)[46]);

// "<uri>;expires=N;q=0.5", the value of a Contact header in a reply.
void append_contact_value(std::string& out, const ReplyContact& contact);

// Where a UDP response goes (RFC 3261 18.2.2, RFC 3581): the source IP, and
// the source port when the top Via asked with rport, else the Via's port.
su_sockaddr_t response_destination(const sip_via_s& top_via, const su_sockaddr_t& source);

// Room for the To-tag the core makes: 16 hex digits and a NUL.
inline constexpr size_t kToTagBufferSize = 17;

// The To-tag a response to `request` carries when the reply sets none: the
// request's own To-tag, else one derived from Call-ID and From tag (so a
// retransmission gets the same one, RFC 3261 8.2.7), written into `buffer`.
std::string_view response_to_tag(const sip_s& request, char (&buffer)[kToTagBufferSize]);

// Appends the response to `request` (received from `source`) to `out`: the
// request's Via (the top one with received/rport, RFC 3581), From, To (with
// the reply's to_tag, else response_to_tag's, when the request has none),
// Call-ID and CSeq, then the reply's contacts, headers
// and body. Copied headers that sofia parsed whole keep their raw bytes.
void encode_response(const sip_s& request, const su_sockaddr_t& source, const Reply& reply, std::string& out);

}  // namespace homesip::core
