// The UDP path's response encoder: what RFC 3261 8.2.6 and RFC 3581 ask of a
// response, checked on requests parsed by sofia-sip the way UdpTransport
// parses them, and on the response parsed back.
#include "response_encoder.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <cstring>
#include <memory>
#include <string>

#include "homesip/version.hpp"

namespace homesip::core {
namespace {

struct MsgDeleter {
  void operator()(msg_t* msg) const { msg_destroy(msg); }
};
using Message = std::unique_ptr<msg_t, MsgDeleter>;

std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

Message parse(const std::string& text) {
  Message msg(msg_create(sip_default_mclass(), MSG_FLG_EXTRACT_COPY));
  msg_iovec_t iov[1];
  EXPECT_EQ(msg_recv_iovec(msg.get(), iov, 1, text.size(), 1), 1);
  std::memcpy(iov[0].mv_base, text.data(), text.size());
  msg_recv_commit(msg.get(), text.size(), 1);
  EXPECT_GT(msg_extract(msg.get()), 0) << text;
  return msg;
}

su_sockaddr_t address(const char* ip, uint16_t port) {
  su_sockaddr_t a{};
  a.su_family = AF_INET;
  a.su_port = htons(port);
  inet_pton(AF_INET, ip, &a.su_sin.sin_addr);
  return a;
}

const std::string kRegister = crlf(
    "REGISTER sip:C1.D1.H1 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.168.1.20:5070;branch=z9hG4bKone;rport\n"
    "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo, SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKthree\n"
    "f: <sip:U1@C1.D1.H1>;tag=from1\n"
    "To: <sip:U1@C1.D1.H1>\n"
    "i: call-1@host\n"
    "CSeq: 7 REGISTER\n"
    "Contact: <sip:U1@192.168.1.20:5070>\n"
    "l: 0\n\n");

std::string encode(const std::string& request, const su_sockaddr_t& source, const Reply& reply) {
  Message msg = parse(request);
  std::string out;
  encode_response(*sip_object(msg.get()), source, reply, out);
  return out;
}

TEST(ResponseEncoder, CopiesTheRequestsHeadersAndParsesBackAsTheResponse) {
  Reply reply(200);
  reply.contacts.push_back({"sip:U1@192.168.1.20:5070", 3600, 500});
  reply.header("Date", "Tue, 24 Nov 2026 10:00:00 GMT");
  const std::string out = encode(kRegister, address("203.0.113.9", 40000), reply);

  Message back = parse(out);
  const sip_t* sip = sip_object(back.get());
  ASSERT_TRUE(sip->sip_status) << out;
  EXPECT_EQ(sip->sip_status->st_status, 200);
  EXPECT_STREQ(sip->sip_status->st_phrase, "OK");
  EXPECT_STREQ(sip->sip_call_id->i_id, "call-1@host");
  EXPECT_EQ(sip->sip_cseq->cs_seq, 7u);
  EXPECT_STREQ(sip->sip_from->a_tag, "from1");
  ASSERT_TRUE(sip->sip_to->a_tag) << out;
  ASSERT_TRUE(sip->sip_contact);
  EXPECT_STREQ(sip->sip_contact->m_expires, "3600");
  EXPECT_STREQ(sip->sip_contact->m_q, "0.5");
  EXPECT_TRUE(sip->sip_date);
  EXPECT_EQ(std::string(sip->sip_server->g_string), "homesip/" + std::to_string(HOMESIP_SDK_VERSION_MAJOR) +
                                                        "." + std::to_string(HOMESIP_SDK_VERSION_MINOR));
  EXPECT_EQ(sip->sip_content_length->l_length, 0u);
  // Compact header names the client used stay as it sent them.
  EXPECT_NE(out.find("\r\nf: <sip:U1@C1.D1.H1>;tag=from1\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\ni: call-1@host\r\n"), std::string::npos) << out;
}

TEST(ResponseEncoder, TopViaGetsReceivedAndRportTheOthersStayInOrder) {
  const std::string out = encode(kRegister, address("203.0.113.9", 40000), Reply(200));
  Message back = parse(out);
  const sip_via_t* via = sip_object(back.get())->sip_via;
  ASSERT_TRUE(via);
  EXPECT_STREQ(via->v_host, "192.168.1.20");
  EXPECT_STREQ(via->v_received, "203.0.113.9");
  EXPECT_STREQ(via->v_rport, "40000");
  EXPECT_STREQ(via->v_branch, "z9hG4bKone");
  ASSERT_TRUE(via->v_next);
  EXPECT_STREQ(via->v_next->v_branch, "z9hG4bKtwo");
  EXPECT_FALSE(via->v_next->v_received);
  ASSERT_TRUE(via->v_next->v_next);
  EXPECT_STREQ(via->v_next->v_next->v_branch, "z9hG4bKthree");
  EXPECT_STREQ(via->v_next->v_next->v_port, "5062");
  EXPECT_FALSE(via->v_next->v_next->v_next);
}

TEST(ResponseEncoder, NoReceivedWhenTheViaHostIsTheSourceAndNoRportUnasked) {
  std::string request = kRegister;
  request.replace(request.find(";rport"), 6, "");
  const std::string out = encode(request, address("192.168.1.20", 5070), Reply(200));
  const std::string top =
      out.substr(out.find("Via: "), out.find("\r\n", out.find("Via: ")) - out.find("Via: "));
  EXPECT_EQ(top, "Via: SIP/2.0/UDP 192.168.1.20:5070;branch=z9hG4bKone");
}

TEST(ResponseEncoder, ReplacesReceivedAndRportTheClientSentItself) {
  std::string request = kRegister;
  request.replace(request.find(";rport"), 6, ";received=1.1.1.1;rport=9");
  const std::string out = encode(request, address("203.0.113.9", 40000), Reply(200));
  Message back = parse(out);
  const sip_via_t* via = sip_object(back.get())->sip_via;
  EXPECT_STREQ(via->v_received, "203.0.113.9");
  EXPECT_STREQ(via->v_rport, "40000");
  EXPECT_EQ(out.find("1.1.1.1"), std::string::npos) << out;
  EXPECT_EQ(out.find("rport=9;"), std::string::npos) << out;
}

TEST(ResponseEncoder, ToTagIsStableForARequestAndKeptWhenThereIsOne) {
  const auto source = address("203.0.113.9", 40000);
  const std::string first = encode(kRegister, source, Reply(200));
  const std::string again = encode(kRegister, source, Reply(200));
  Message a = parse(first), b = parse(again);
  EXPECT_STREQ(sip_object(a.get())->sip_to->a_tag, sip_object(b.get())->sip_to->a_tag);

  std::string other_dialog = kRegister;
  other_dialog.replace(other_dialog.find("call-1"), 6, "call-2");
  Message c = parse(encode(other_dialog, source, Reply(200)));
  EXPECT_STRNE(sip_object(a.get())->sip_to->a_tag, sip_object(c.get())->sip_to->a_tag);

  std::string tagged = kRegister;
  tagged.replace(tagged.find("To: <sip:U1@C1.D1.H1>"), 21, "To: <sip:U1@C1.D1.H1>;tag=theirs");
  Message d = parse(encode(tagged, source, Reply(486)));
  EXPECT_STREQ(sip_object(d.get())->sip_to->a_tag, "theirs");

  // A provisional response creates no dialog: no tag (RFC 3261 8.2.6.2).
  Message e = parse(encode(kRegister, source, Reply(100)));
  EXPECT_FALSE(sip_object(e.get())->sip_to->a_tag);
}

TEST(ResponseEncoder, PluginTextCannotAddLinesOfItsOwn) {
  Reply reply(403, "Forbidden\r\nX-Forged: 1");
  reply.header("Warning", "399 homesip \"bad\"\r\nX-Forged: 2");
  reply.contacts.push_back({"sip:a@b>\r\nX-Forged: 3", std::nullopt, std::nullopt});
  const std::string out = encode(kRegister, address("203.0.113.9", 40000), reply);
  EXPECT_EQ(out.find("\r\nX-Forged"), std::string::npos) << out;
  Message back = parse(out);
  EXPECT_EQ(sip_object(back.get())->sip_status->st_status, 403);
}

TEST(ResponseEncoder, BodyAndContentLength) {
  Reply reply(200);
  reply.content_type = "text/plain";
  reply.body = "on";
  const std::string out = encode(kRegister, address("203.0.113.9", 40000), reply);
  EXPECT_NE(out.find("\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\non"), std::string::npos)
      << out;
  EXPECT_EQ(out.substr(out.size() - 2), "on");
}

TEST(ResponseEncoder, UnknownStatusGetsAPhrase) {
  const std::string out = encode(kRegister, address("203.0.113.9", 40000), Reply(499));
  EXPECT_EQ(out.rfind("SIP/2.0 499 ", 0), 0u) << out;
  EXPECT_NE(out.find("\r\n"), 12u) << out;  // never "SIP/2.0 499 \r\n"
}

TEST(ResponseDestination, RportMeansTheSourcePortElseTheViaPort) {
  const auto source = address("203.0.113.9", 40000);
  Message with_rport = parse(kRegister);
  const auto a = response_destination(*sip_object(with_rport.get())->sip_via, source);
  EXPECT_EQ(ntohs(a.su_port), 40000);
  EXPECT_EQ(a.su_sin.sin_addr.s_addr, source.su_sin.sin_addr.s_addr);

  std::string no_rport = kRegister;
  no_rport.replace(no_rport.find(";rport"), 6, "");
  Message without = parse(no_rport);
  const auto b = response_destination(*sip_object(without.get())->sip_via, source);
  EXPECT_EQ(ntohs(b.su_port), 5070);
  EXPECT_EQ(b.su_sin.sin_addr.s_addr, source.su_sin.sin_addr.s_addr);  // received, not the Via host

  std::string no_port = no_rport;
  no_port.replace(no_port.find("192.168.1.20:5070;"), 18, "192.168.1.20;");
  Message default_port = parse(no_port);
  EXPECT_EQ(ntohs(response_destination(*sip_object(default_port.get())->sip_via, source).su_port), 5060);
}

}  // namespace
}  // namespace homesip::core
