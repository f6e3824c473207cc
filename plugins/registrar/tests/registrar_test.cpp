// Registrar::on_request over fakes of the core's request and the store: what
// a REGISTER is answered and whether the store is asked at all.
#include "registrar.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace homesip;
using namespace homesip::registrar;

namespace {

class FakeRegister final : public SipRequest {
 public:
  std::vector<ContactView> contact_list;
  std::optional<uint32_t> expires;

  Method method() const override { return Method::kRegister; }
  std::string_view method_name() const override { return "REGISTER"; }
  UriView request_uri() const override { return {"sip", "", "h", "", ""}; }
  UriView from_uri() const override { return to_uri(); }
  UriView to_uri() const override { return {"sip", "alice", "h", "", ""}; }
  std::string_view call_id() const override { return "c1"; }
  uint32_t cseq() const override { return 1; }
  std::optional<uint32_t> expires_header() const override { return expires; }
  bool expires_header_invalid() const override { return false; }
  uint32_t max_forwards() const override { return 70; }
  std::vector<ContactView> contacts() const override { return contact_list; }
  SourceAddress source() const override { return {"udp", "192.0.2.7", 5060}; }
  std::string_view user_agent() const override { return "test"; }
  std::string_view content_type() const override { return {}; }
  std::string_view body() const override { return {}; }
  std::optional<std::string> header(std::string_view) const override { return std::nullopt; }
};

// Records every reply, whether sent at once or after defer().
class FakeIncoming final : public IncomingRequest {
 public:
  explicit FakeIncoming(const SipRequest& sip) : sip_(sip) {}
  std::vector<Reply> replies;

  const SipRequest& request() const override { return sip_; }
  void reply(const Reply& r) override { replies.push_back(r); }
  std::unique_ptr<DeferredReply> defer() override { return std::make_unique<Deferred>(*this); }

 private:
  class Deferred final : public DeferredReply {
   public:
    explicit Deferred(FakeIncoming& owner) : owner_(owner) {}
    const SipRequest& request() const override { return owner_.sip_; }
    void send(const Reply& r) override { owner_.replies.push_back(r); }

   private:
    FakeIncoming& owner_;
  };
  const SipRequest& sip_;
};

// Answers from memory at once, as location-sqlite does before its commit.
class FakeStore final : public LocationStore {
 public:
  std::map<std::string, BindingList, std::less<>> aors;
  int updates = 0;

  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override {
    ++updates;
    BindingList list = aors[std::string(aor)];
    if (edit(list)) aors[std::string(aor)] = list;
    done(StoreStatus::kOk, aors[std::string(aor)]);
  }
  void lookup(std::string_view aor, LookupDone done) override {
    done(StoreStatus::kOk, aors[std::string(aor)]);
  }
  void list_aors(std::string_view, ListDone done) override { done(StoreStatus::kOk, {}); }
};

class SilentLogger final : public Logger {
 public:
  bool enabled(LogLevel) const override { return false; }
  void write(LogLevel, std::string_view) override {}
};

ContactView contact(std::string uri) {
  ContactView c;
  c.uri = std::move(uri);
  return c;
}

struct RegistrarTest : ::testing::Test {
  FakeStore store;
  SilentLogger log;
  RegistrarPolicy policy{.min_expires = 60, .max_expires = 7200, .default_expires = 3600, .max_contacts = 10};
  Registrar registrar{store, log, policy, {}, 5};
  FakeRegister sip;

  std::vector<Reply> send() {
    FakeIncoming incoming(sip);
    EXPECT_EQ(registrar.on_request(incoming), Disposition::kHandled);
    return incoming.replies;
  }
};

}  // namespace

// How the core hands over ;expires=-5 or ;expires=abc: not delta-seconds.
TEST_F(RegistrarTest, InvalidContactExpiresAnswers400WithoutTouchingTheStore) {
  ContactView bad = contact("sip:alice@192.0.2.7");
  bad.expires_invalid = true;
  sip.contact_list = {bad};
  sip.expires = 600;
  const auto replies = send();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].status, 400);
  EXPECT_EQ(replies[0].reason, "Invalid Contact Expires");
  EXPECT_EQ(store.updates, 0);
}

TEST_F(RegistrarTest, SaturatedContactExpiresIsBoundForMaxExpires) {
  ContactView c = contact("sip:alice@192.0.2.7");
  c.expires = UINT32_MAX;  // the core's reading of ;expires=99999999999
  sip.contact_list = {c};
  const int64_t before = unix_now();
  const auto replies = send();
  const int64_t after = unix_now();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].status, 200);
  const BindingList& stored = store.aors["alice@h"];
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_GE(stored[0].expires_at, before + 7200);
  EXPECT_LE(stored[0].expires_at, after + 7200);
  ASSERT_EQ(replies[0].contacts.size(), 1u);
  EXPECT_EQ(replies[0].contacts[0].uri, "sip:alice@192.0.2.7");
}
