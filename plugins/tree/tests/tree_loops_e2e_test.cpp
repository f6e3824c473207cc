// The secured tree C1 -> D1 -> H1 (location-sqlite, tree, auth-digest,
// policy, registrar on each) with `server.loops` 1 and 2: phones' REGISTERs
// follow the 302s from the top down to H1 and authenticate there, then their
// INVITEs are redirected down the same way and answered 302 by H1 after
// digest. Every request leaves from a socket of its own, so the kernel
// spreads them over both loops (it picks a loop by source address and port),
// and every answer is checked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "homesip/digest/digest.hpp"
#include "secured_tree.hpp"
#include "test_support.hpp"

using namespace homesip::test;
namespace digest = homesip::digest;

namespace {

constexpr int kUsers = 8;
constexpr const char* kFamily = "C1.D1.H1";

// Every value of header `name` in `message` (one per line, as homesipd writes them).
std::vector<std::string> header_values(const std::string& message, const std::string& name) {
  std::vector<std::string> out;
  const std::string prefix = "\r\n" + name + ": ";
  for (size_t at = message.find(prefix); at != std::string::npos; at = message.find(prefix, at + 1)) {
    const size_t start = at + prefix.size();
    out.push_back(message.substr(start, message.find("\r\n", start) - start));
  }
  return out;
}
std::string header(const std::string& message, const std::string& name) {
  const auto values = header_values(message, name);
  return values.empty() ? "" : values.front();
}

std::string user(int i) { return "U" + std::to_string(i); }
std::string aor(int i) { return user(i) + "@" + kFamily; }
std::string password(int i) { return "password of " + user(i); }
// Where phone i says it is (TEST-NET: nobody is called there, only redirected to).
std::string phone_contact(int i) { return "sip:" + user(i) + "@192.0.2." + std::to_string(i) + ":5060"; }

// A request of phone `from` ($PORT$: the socket udp_exchange sends it from);
// `authorization` is added when not empty.
std::string request(const std::string& method, const std::string& request_uri, int from,
                    const std::string& to, const std::string& tag, const std::string& authorization = "") {
  std::string text = method + " " + request_uri + " SIP/2.0\n" +
                     "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK-" + tag + "\n" + "Max-Forwards: 70\n" +
                     "From: <sip:" + aor(from) + ">;tag=f-" + tag + "\n" + "To: <sip:" + to + ">\n" +
                     "Call-ID: " + tag + "@loops-test\n" + "CSeq: 1 " + method + "\n" + "Contact: <" +
                     phone_contact(from) + ">\n";
  if (method == "REGISTER") text += "Expires: 600\n";
  if (!authorization.empty()) text += "Authorization: " + authorization + "\n";
  return text + "Content-Length: 0\n\n";
}

class TreeLoopsTest : public ::testing::TestWithParam<int> {
 protected:
  // SecuredTree::start() with `server.loops` on every server.
  void SetUp() override {
    const std::vector<std::string> loops{"--set", "server.loops=" + std::to_string(GetParam())};
    tree_.province = tree_.make("C1", "");
    tree_.province->set_extra_arguments(loops);
    tree_.province->start();
    ASSERT_EQ(tree_.add_user("C1", "D1@C1", "server", SecuredTree::kD1Password), 0);
    tree_.community = tree_.make("D1", "C1", tree_.password_file("d1.password", SecuredTree::kD1Password));
    tree_.community->set_extra_arguments(loops);
    tree_.community->start();
    ASSERT_EQ(tree_.add_user("D1", "H1@C1.D1", "server", SecuredTree::kH1Password), 0);
    tree_.family = tree_.make("H1", "C1.D1", tree_.password_file("h1.password", SecuredTree::kH1Password));
    tree_.family->set_extra_arguments(loops);
    tree_.family->start();
    ASSERT_TRUE(
        eventually([&] { return tree_.child_online("C1", "D1@C1") && tree_.child_online("D1", "H1@C1.D1"); },
                   std::chrono::seconds(30)))
        << tree_.logs();
    for (int i = 1; i <= kUsers; ++i) ASSERT_EQ(tree_.add_user("H1", aor(i), "member", password(i)), 0);
  }

  // The first SHA-256 challenge of a 401, parsed.
  static digest::DigestParams sha256_challenge(const std::string& response) {
    for (const std::string& value : header_values(response, "WWW-Authenticate")) {
      const auto parsed = digest::parse(value);
      if (parsed && parsed->algorithm == "SHA-256") return *parsed;
    }
    ADD_FAILURE() << "no SHA-256 challenge in\n" << response;
    return {};
  }

  // Sends `message` to `server` from a socket of its own; expects `status`
  // and, when given, `contact` inside the first Contact.
  std::string expect(const HomesipServer& server, const std::string& message, int status,
                     const std::string& contact = "") {
    const std::string response = udp_exchange(server.port(), message);
    EXPECT_EQ(status_of(response), status) << message << "\nanswered\n" << response << "\n" << tree_.logs();
    if (!contact.empty()) {
      EXPECT_NE(header(response, "Contact").find(contact), std::string::npos)
          << "Contact " << header(response, "Contact") << ", not " << contact;
    }
    return response;
  }

  // Digest answers to `challenge` for phone i.
  static std::string authorization(const digest::DigestParams& challenge, int i, const std::string& method,
                                   const std::string& uri) {
    return digest::authorization(challenge, user(i), password(i), method, uri, "cnonce-" + user(i), 1)
        .value_or("");
  }

  std::string address_of(const HomesipServer& server, const std::string& name) const {
    return name + "@127.0.0.1:" + std::to_string(server.port());
  }

  TempDir dir_;
  SecuredTree tree_{dir_, HOMESIP_TEST_HOMESIPCTL};
};

TEST_P(TreeLoopsTest, RegisterDownTheTreeThenCallWithDigestFromManySourcePorts) {
  const std::string d1 = address_of(*tree_.community, "D1");
  const std::string h1 = address_of(*tree_.family, "H1");
  const std::string uri = std::string("sip:") + kFamily;
  for (int i = 1; i <= kUsers; ++i) {
    const std::string tag = "reg-" + std::to_string(i);
    // The top and the community only point down; neither asks for credentials.
    expect(*tree_.province, request("REGISTER", uri, i, aor(i), tag + "a"), 302, d1);
    expect(*tree_.community, request("REGISTER", uri, i, aor(i), tag + "b"), 302, h1);
    const std::string challenged = expect(*tree_.family, request("REGISTER", uri, i, aor(i), tag + "c"), 401);
    expect(*tree_.family,
           request("REGISTER", uri, i, aor(i), tag + "d",
                   authorization(sha256_challenge(challenged), i, "REGISTER", uri)),
           200, phone_contact(i));
  }
  for (int i = 1; i <= kUsers; ++i) {
    const int callee = i % kUsers + 1;
    const std::string target = "sip:" + aor(callee);
    const std::string tag = "inv-" + std::to_string(i);
    expect(*tree_.province, request("INVITE", target, i, aor(callee), tag + "a"), 302, d1);
    expect(*tree_.community, request("INVITE", target, i, aor(callee), tag + "b"), 302, h1);
    // From names one of H1's users: proven by digest before the policy lets the call on.
    const std::string challenged =
        expect(*tree_.family, request("INVITE", target, i, aor(callee), tag + "c"), 401);
    expect(*tree_.family,
           request("INVITE", target, i, aor(callee), tag + "d",
                   authorization(sha256_challenge(challenged), i, "INVITE", target)),
           302, phone_contact(callee));
  }
  // H1 took 32 requests from 32 source ports: each of its loops served some.
  std::string stats;
  ASSERT_EQ(tree_.ctl("H1", {"--json", "stats"}, &stats), 0) << stats;
  const nlohmann::json loops = nlohmann::json::parse(stats, nullptr, false).value("loops", nlohmann::json());
  ASSERT_TRUE(loops.is_array()) << stats;
  ASSERT_EQ(loops.size(), static_cast<size_t>(GetParam())) << stats;
  for (const nlohmann::json& loop : loops) EXPECT_GT(loop.value("messages", 0), 0) << stats;
}

INSTANTIATE_TEST_SUITE_P(Loops, TreeLoopsTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "Loops";
                         });

}  // namespace
