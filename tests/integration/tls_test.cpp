// A tree that speaks only TLS (issue 13 parts 3 and 5): a small CA and one
// certificate per server made with the openssl command line, homesipd
// servers with only tls: listeners, the tree's upward registration to a
// `top: sips:` address, a user's REGISTER walk and a call redirected over
// TLS (a raw OpenSSL client that verifies the server as a phone would), and
// the refusals: a child whose certificate another CA issued, a parent whose
// certificate names another address, and with auth-tls at the parent a
// child registering by its certificate alone, or refused 403 when the
// certificate names another AOR.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }

// A CA, and certificates it issues, made with the openssl command line as
// docs/security.md shows. EC keys: quick to make.
class Pki {
 public:
  Pki(const TempDir& dir, std::string name) : dir_(dir.path() / name) {
    std::filesystem::create_directories(dir_);
    std::string out;
    const int rc =
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=" + name, "-keyout", key().string(), "-out", certificate().string()},
            &out);
    if (rc != 0) throw std::runtime_error("openssl req (CA) failed: " + out);
  }
  std::filesystem::path key() const { return dir_ / "ca.key"; }
  std::filesystem::path certificate() const { return dir_ / "ca.pem"; }

  // Writes `directory`/agent.pem (key and certificate, `subject_alt_names`
  // such as "IP:127.0.0.1,URI:sip:H1@C1.D1") and `directory`/cafile.pem
  // (the CA `trusted` that this server verifies its peers against).
  void issue(const std::filesystem::path& directory, const std::string& common_name,
             const std::string& subject_alt_names, const Pki& trusted) const {
    std::filesystem::create_directories(directory);
    const auto key = directory / "key.pem", request = directory / "request.csr",
               certificate = directory / "cert.pem", extensions = directory / "extensions.cnf";
    write_file(extensions,
               "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
               "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=" +
                   subject_alt_names + "\n");
    std::string out;
    int rc = run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-subj", "/CN=" + common_name, "-keyout", key.string(), "-out", request.string()},
                 &out);
    if (rc != 0) throw std::runtime_error("openssl req failed: " + out);
    rc = run({"openssl", "x509", "-req", "-in", request.string(), "-CA", this->certificate().string(),
              "-CAkey", this->key().string(), "-CAcreateserial", "-days", "2", "-extfile",
              extensions.string(), "-out", certificate.string()},
             &out);
    if (rc != 0) throw std::runtime_error("openssl x509 failed: " + out);
    write_file(directory / "agent.pem", read_file(key) + read_file(certificate));
    write_file(directory / "cafile.pem", read_file(trusted.certificate()));
  }

 private:
  std::filesystem::path dir_;
};

// A homesipd with only a tls: listener, an admin socket, location-sqlite,
// the tree and the registrar (plus `extra_plugins`), started on a free port.
class TlsServer {
 public:
  TlsServer(const TempDir& dir, const std::string& name, const std::string& domain, const std::string& top,
            const std::filesystem::path& certificates, const std::string& extra_server_yaml = "",
            const std::string& extra_plugins = "", const std::string& tree_settings = "")
      : port_(free_port()), socket_(dir / (name + domain + ".sock")), log_(dir / (name + domain + ".log")) {
    const std::string tag = name + domain;
    config_ = dir / (tag + ".yaml");
    write_file(config_, "server:\n  listen: [tls:127.0.0.1:" + std::to_string(port_) + "]\n  plugin_dirs: [" +
                            plugin_dir() + "]\n  tls_certificates: " + certificates.string() +
                            "\n  admin_socket: " + socket_.string() + "\n" + extra_server_yaml +
                            "log:\n  level: debug\nplugins:\n  - plugin: location-sqlite\n    path: " +
                            (dir / (tag + ".sqlite")).string() + "\n" +
                            tree_plugin_yaml(name, domain, top, tree_settings) + extra_plugins +
                            "  - plugin: registrar\n    min_expires: 10\n");
  }
  ~TlsServer() {
    if (process_) process_->stop();
  }

  void start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{homesipd_path(), "--config", config_.string()}, log_);
    // Up when the listener accepts and the admin socket answers.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline && process_->running()) {
      if (TcpClient(port_).connected() && tree().is_object()) return;
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("homesipd did not start on tls:" + std::to_string(port_) + "; log:\n" +
                             read_file(log_));
  }
  uint16_t port() const { return port_; }
  // Adds `listener` ("tcp:127.0.0.1:PORT") beside the tls: one; before start().
  void also_listen(const std::string& listener) {
    std::string text = read_file(config_);
    const std::string tls = "tls:127.0.0.1:" + std::to_string(port_);
    text.replace(text.find(tls), tls.size(), tls + ", " + listener);
    write_file(config_, text);
  }
  std::string sips() const { return "sips:127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read_file(log_); }
  // `homesipctl tree` as JSON; null when it does not answer.
  nlohmann::json tree() const {
    std::string out;
    if (run({homesipctl(), "--socket", socket_.string(), "--json", "tree"}, &out, 5s) != 0) return nullptr;
    return nlohmann::json::parse(out, nullptr, false);
  }
  // `homesipctl stats` as JSON; null when it does not answer.
  nlohmann::json stats() const {
    std::string out;
    if (run({homesipctl(), "--socket", socket_.string(), "--json", "stats"}, &out, 5s) != 0) return nullptr;
    return nlohmann::json::parse(out, nullptr, false);
  }
  bool has_child(const std::string& aor) const {
    const auto t = tree();
    if (!t.is_object() || !t.contains("children")) return false;
    for (const auto& child : t["children"])
      if (child.value("aor", "") == aor) return true;
    return false;
  }

 private:
  uint16_t port_;
  std::filesystem::path socket_;
  std::filesystem::path log_;
  std::filesystem::path config_;
  std::unique_ptr<Process> process_;
};

// A phone's TLS connection: verifies the server against `cafile` and that
// its certificate names 127.0.0.1; presents `agent` (key and certificate)
// when given.
class TlsPhone {
 public:
  TlsPhone(uint16_t port, const std::filesystem::path& cafile, const std::filesystem::path& agent = {})
      : tcp_(port), context_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_load_verify_locations(context_, cafile.c_str(), nullptr);
    SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
    if (!agent.empty()) {
      SSL_CTX_use_certificate_file(context_, agent.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(context_, agent.c_str(), SSL_FILETYPE_PEM);
    }
    ssl_ = SSL_new(context_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    SSL_set_fd(ssl_, tcp_.fd());
    handshake_ok_ = tcp_.connected() && SSL_connect(ssl_) == 1;
  }
  ~TlsPhone() {
    SSL_free(ssl_);
    SSL_CTX_free(context_);
  }
  bool handshake_ok() const { return handshake_ok_; }
  uint16_t local_port() const { return tcp_.local_port(); }
  // Sends `request` ("$PORT$" becomes the local port, \n becomes \r\n).
  bool send(std::string request) {
    for (size_t at; (at = request.find("$PORT$")) != std::string::npos;)
      request.replace(at, 6, std::to_string(local_port()));
    std::string wire;
    for (const char c : request) wire += c == '\n' ? std::string("\r\n") : std::string(1, c);
    return SSL_write(ssl_, wire.data(), static_cast<int>(wire.size())) > 0;
  }
  // The next message's head; "" when none comes within 3 s or the connection ends.
  std::string receive() {
    const timeval three_seconds{3, 0};
    setsockopt(tcp_.fd(), SOL_SOCKET, SO_RCVTIMEO, &three_seconds, sizeof three_seconds);
    return read_head();
  }
  // Sends `request` and returns the first final response's head; "" when
  // the connection ends.
  std::string exchange(std::string request) {
    if (!send(std::move(request))) return "";
    for (int responses = 0; responses < 5; ++responses) {
      std::string head = read_head();
      if (head.empty() || head.rfind("SIP/2.0 1", 0) != 0) return head;  // skip provisional answers
    }
    return "";
  }

 private:
  std::string read_head() {
    char chunk[4096];
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    const size_t end = buffer_.find("\r\n\r\n") + 4;
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end);  // our servers' answers have no body
    return head;
  }

  TcpClient tcp_;
  SSL_CTX* context_;
  SSL* ssl_ = nullptr;
  bool handshake_ok_ = false;
  std::string buffer_;
};

std::string request(const std::string& method, const std::string& uri, const std::string& aor,
                    const std::string& call_id, const std::string& extra = "") {
  return method + " " + uri + " SIP/2.0\nVia: SIP/2.0/TLS 127.0.0.1:$PORT$;branch=z9hG4bK-" + call_id +
         ";rport\nMax-Forwards: 70\nFrom: <sip:caller@C1.D1.H1>;tag=t1\nTo: <sip:" + aor +
         ">\nCall-ID: " + call_id + "\nCSeq: 1 " + method + "\n" + extra + "Content-Length: 0\n\n";
}

// The URI of a response's first Contact ("" when none).
std::string contact_of(const std::string& response) {
  const size_t line = response.find("\r\nContact: <");
  if (line == std::string::npos) return "";
  const size_t start = line + 12;
  return response.substr(start, response.find('>', start) - start);
}

// The port of "sips:D1@127.0.0.1:5120;..." (0 when none).
uint16_t port_of(const std::string& uri) {
  const size_t colon = uri.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(uri.substr(colon + 1)));
}

class TlsTree : public ::testing::Test {
 protected:
  std::filesystem::path certificates(const std::string& name) const { return dir_ / ("certs-" + name); }
  // The usual certificate: our CA, the loopback address (as an IP SAN for
  // OpenSSL's check, and as URI:sip:127.0.0.1 for sofia-sip's, which skips
  // IP SANs: docs/security.md) and the server's AOR.
  std::filesystem::path issue(const std::string& server, const std::string& aor) {
    ca_.issue(certificates(server), server, "IP:127.0.0.1,URI:sip:127.0.0.1,URI:sip:" + aor, ca_);
    return certificates(server);
  }

  TempDir dir_;
  Pki ca_{dir_, "homesip-test-ca"};
};

}  // namespace

// C1 (top), D1@C1, H1@C1.D1 with only tls: listeners; the children have
// `top: sips:...` and register upward; a user registers through the top
// with three REGISTERs over TLS and a call to the user is redirected to it.
TEST_F(TlsTree, AWholeTreeOverTlsOnlyRegistersAndRedirects) {
  TlsServer c1(dir_, "C1", "", "", issue("C1", "C1"));
  TlsServer d1(dir_, "D1", "C1", c1.sips(), issue("D1", "D1@C1"));
  TlsServer h1(dir_, "H1", "C1.D1", c1.sips(), issue("H1", "H1@C1.D1"));
  c1.start();
  d1.start();
  ASSERT_TRUE(eventually([&] { return c1.has_child("D1@C1"); })) << d1.log();
  h1.start();
  ASSERT_TRUE(eventually([&] { return d1.has_child("H1@C1.D1"); })) << h1.log();
  EXPECT_NE(h1.log().find("registered H1@C1.D1 with sips:D1@127.0.0.1:" + std::to_string(d1.port())),
            std::string::npos)
      << h1.log();

  // A phone walks the redirects, each hop over TLS with the server verified.
  const auto cafile = certificates("C1") / "cafile.pem";
  const std::string aor = "U1@C1.D1.H1";
  const std::string contact = "Contact: <sips:u1@127.0.0.1:$PORT$>\nExpires: 600\n";
  uint16_t port = c1.port();
  std::string response;
  std::unique_ptr<TlsPhone> phone;  // the last one stays connected: bound at H1
  for (int hop = 0; hop < 3; ++hop) {
    phone = std::make_unique<TlsPhone>(port, cafile);
    ASSERT_TRUE(phone->handshake_ok()) << "hop " << hop;
    response =
        phone->exchange(request("REGISTER", "sip:C1.D1.H1", aor, "walk" + std::to_string(hop), contact));
    if (status_of(response) != 302) break;
    port = port_of(contact_of(response));
  }
  ASSERT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(port, h1.port());

  // Registered over TLS, the phone is reached on its connection (its flow):
  // a server looking it up is sent through H1, and a call sent to H1 goes
  // out on that connection.
  TlsPhone caller(h1.port(), cafile);
  ASSERT_TRUE(caller.handshake_ok());
  const std::string looked_up = caller.exchange(request("OPTIONS", "sip:" + aor, aor, "look1"));
  EXPECT_EQ(status_of(looked_up), 302) << looked_up;
  EXPECT_EQ(contact_of(looked_up),
            "sip:" + aor + "?Route=%3Csips:127.0.0.1:" + std::to_string(h1.port()) + "%3Blr%3E")
      << looked_up;
  ASSERT_TRUE(caller.send(request("INVITE", "sip:" + aor, aor, "call1")));
  const std::string invite = phone->receive();
  EXPECT_EQ(
      invite.rfind("INVITE sips:u1@127.0.0.1:" + std::to_string(phone->local_port()) + " SIP/2.0\r\n", 0), 0u)
      << invite << h1.log();
}

// server.loops 2: each loop has its own socket on the tls: listener and the
// kernel hands each new connection to one of them. Sixteen phones or more
// (until both loops serve some) register, and each calls the next: the call
// leaves on the callee's connection whichever loop holds it, and the
// callee's answer goes back to the caller's connection on its own loop.
TEST_F(TlsTree, PhonesOnEveryLoopAreServedAndCallEachOther) {
  TlsServer h1(dir_, "H1", "C1.D1", "sips:127.0.0.1:" + std::to_string(free_port()), issue("H1", "H1@C1.D1"),
               "  loops: 2\n");
  h1.start();
  const auto cafile = certificates("H1") / "cafile.pem";
  // Sixteen phones at least, more until both loops serve some (all of 64 on
  // one loop: one chance in 2^63).
  std::vector<std::unique_ptr<TlsPhone>> phones;
  const auto both_loops_serve = [&] {
    const nlohmann::json loops = h1.stats()["loops"];
    return loops.size() == 2 && loops[0]["messages"].get<int>() > 0 && loops[1]["messages"].get<int>() > 0;
  };
  for (int i = 0; i < 64 && (i < 16 || !both_loops_serve()); ++i) {
    phones.push_back(std::make_unique<TlsPhone>(h1.port(), cafile));
    ASSERT_TRUE(phones[i]->handshake_ok()) << "phone " << i;
    const std::string aor = "U" + std::to_string(i) + "@C1.D1.H1";
    const std::string registered = phones[i]->exchange(
        request("REGISTER", "sip:C1.D1.H1", aor, "loops-reg" + std::to_string(i),
                "Contact: <sips:u" + std::to_string(i) + "@127.0.0.1:$PORT$>\nExpires: 600\n"));
    ASSERT_EQ(status_of(registered), 200) << "phone " << i << ": " << registered << h1.log();
  }
  ASSERT_TRUE(both_loops_serve()) << h1.stats().dump();
  const int kPhones = static_cast<int>(phones.size());

  for (int i = 0; i < kPhones; ++i) {
    TlsPhone& caller = *phones[i];
    TlsPhone& callee = *phones[(i + 1) % kPhones];
    const std::string callee_aor = "U" + std::to_string((i + 1) % kPhones) + "@C1.D1.H1";
    const std::string call_id = "loops-call" + std::to_string(i);
    ASSERT_TRUE(caller.send(request("INVITE", "sip:" + callee_aor, callee_aor, call_id)));
    const std::string invite = callee.receive();
    ASSERT_EQ(invite.rfind("INVITE sips:u" + std::to_string((i + 1) % kPhones) +
                               "@127.0.0.1:" + std::to_string(callee.local_port()) + " SIP/2.0\r\n",
                           0),
              0u)
        << "call " << i << ": " << invite << h1.log();
    // The callee answers on its connection with every Via the INVITE had
    // (TlsPhone::send ends each line with CRLF).
    std::string answer = "SIP/2.0 486 Busy Here\n";
    const auto copy_line = [&](size_t at) {
      answer += invite.substr(at + 2, invite.find("\r\n", at + 2) - at - 2) + "\n";
    };
    for (size_t at = invite.find("\r\nVia: "); at != std::string::npos; at = invite.find("\r\nVia: ", at + 2))
      copy_line(at);
    for (const char* name : {"From", "To", "Call-ID", "CSeq"})
      copy_line(invite.find(std::string("\r\n") + name + ": "));
    ASSERT_TRUE(callee.send(answer + "Content-Length: 0\n\n"));
    std::string heard = caller.receive();
    while (heard.rfind("SIP/2.0 1", 0) == 0) heard = caller.receive();  // a provisional answer first
    EXPECT_EQ(status_of(heard), 486) << "call " << i << ": " << heard << h1.log();
    EXPECT_NE(heard.find("Call-ID: " + call_id + "\r\n"), std::string::npos) << heard;
  }
}

// server.connections.max counts every listener's connections: a flood of
// idle plain-TCP connections that spends it makes the one idle the longest
// give way to a TLS phone, not lock TLS out until the idle timeout.
TEST_F(TlsTree, IdleTcpConnectionsAtTheLimitGiveWayToATlsPhone) {
  TlsServer h1(dir_, "H1", "C1.D1", "sips:127.0.0.1:" + std::to_string(free_port()), issue("H1", "H1@C1.D1"),
               "  connections: {max: 20}\n");
  const uint16_t tcp_port = free_port();
  h1.also_listen("tcp:127.0.0.1:" + std::to_string(tcp_port));
  h1.start();
  std::vector<std::unique_ptr<TcpClient>> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<TcpClient>(tcp_port));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(h1.stats()["tcp_tls_connections"].get<int>(), 20) << h1.stats().dump();
  TlsPhone phone(h1.port(), certificates("H1") / "cafile.pem");
  ASSERT_TRUE(phone.handshake_ok()) << h1.log();
  const std::string registered =
      phone.exchange(request("REGISTER", "sip:C1.D1.H1", "U1@C1.D1.H1", "after-flood",
                             "Contact: <sips:u1@127.0.0.1:$PORT$>\nExpires: 600\n"));
  EXPECT_EQ(status_of(registered), 200) << registered << h1.log();
  EXPECT_EQ(h1.stats()["tcp_tls_connections"].get<int>(), 20) << h1.stats().dump();
}

// A child whose certificate another CA issued fails the handshake at the top
// (tls_verify_clients: optional, the default): it is never bound.
TEST_F(TlsTree, AChildWithACertificateFromAnotherCaIsRefused) {
  TlsServer c1(dir_, "C1", "", "", issue("C1", "C1"));
  const Pki rogue(dir_, "rogue-ca");
  rogue.issue(certificates("D2"), "D2", "IP:127.0.0.1,URI:sip:D2@C1",
              ca_);  // trusts our CA, signed by another
  TlsServer d2(dir_, "D2", "C1", c1.sips(), certificates("D2"));
  c1.start();
  d2.start();
  ASSERT_TRUE(eventually([&] {
    return c1.log().find("a client certificate refused from 127.0.0.1:") != std::string::npos;
  })) << c1.log();
  EXPECT_NE(c1.log().find("unable to get local issuer certificate"), std::string::npos) << c1.log();
  std::this_thread::sleep_for(3s);  // the child tries again
  EXPECT_FALSE(c1.has_child("D2@C1"));
}

// A top whose certificate names 127.0.0.2 is refused by the child that
// reaches it at 127.0.0.1 (tls_verify_servers: true, the default): never
// bound there. The same child with tls_verify_servers: false registers,
// so the name check alone refused it.
TEST_F(TlsTree, AParentWhoseCertificateNamesAnotherAddressIsRefused) {
  ca_.issue(certificates("C9"), "C1", "IP:127.0.0.2,URI:sip:127.0.0.2,DNS:c9.example", ca_);
  TlsServer c9(dir_, "C1", "", "", certificates("C9"));
  TlsServer d3(dir_, "D3", "C1", c9.sips(), issue("D3", "D3@C1"));
  TlsServer d4(dir_, "D4", "C1", c9.sips(), issue("D4", "D4@C1"), "  tls_verify_servers: false\n");
  c9.start();
  d3.start();
  d4.start();
  ASSERT_TRUE(eventually([&] { return c9.has_child("D4@C1"); })) << d4.log();
  // sofia closes the connection after the handshake without telling the
  // transaction: D3's REGISTER ends in a 408 after timer F (32 s), never
  // sent. Meanwhile D4, the same but for the check, registered at once.
  std::this_thread::sleep_for(5s);
  EXPECT_FALSE(c9.has_child("D3@C1"));
  EXPECT_EQ(d3.log().find("registered D3@C1"), std::string::npos) << d3.log();
}

// The top with auth-digest (no user at all) and auth-tls, requiring client
// certificates: D1, whose certificate names D1@C1, registers with no
// password; D5, whose certificate names D7@C1, gets 403; a phone without a
// certificate cannot even connect.
TEST_F(TlsTree, MutualTlsAuthenticatesAChildByItsCertificate) {
  const std::string auth =
      "  - plugin: auth-tls\n  - plugin: auth-digest\n    secret_file: " + (dir_ / "nonce.secret").string() +
      "\n";
  TlsServer c1(dir_, "C1", "", "", issue("C1", "C1"), "  tls_verify_clients: required\n", auth);
  TlsServer d1(dir_, "D1", "C1", c1.sips(), issue("D1", "D1@C1"));
  ca_.issue(certificates("D5"), "D5", "IP:127.0.0.1,URI:sip:D7@C1", ca_);
  TlsServer d5(dir_, "D5", "C1", c1.sips(), certificates("D5"));
  c1.start();
  d1.start();
  d5.start();
  ASSERT_TRUE(eventually([&] { return c1.has_child("D1@C1"); })) << d1.log() << c1.log();
  EXPECT_EQ(d1.log().find("asks for a password"), std::string::npos);
  ASSERT_TRUE(eventually([&] {
    return d5.log().find("registering D5@C1 failed (403 Certificate Names Another AOR") != std::string::npos;
  })) << d5.log();
  EXPECT_FALSE(c1.has_child("D5@C1"));
  EXPECT_NE(c1.log().find("refused method=REGISTER aor=D5@C1 source=tls:127.0.0.1:"), std::string::npos)
      << c1.log();

  TlsPhone without_certificate(c1.port(), certificates("C1") / "cafile.pem");
  EXPECT_EQ(status_of(without_certificate.exchange(request("OPTIONS", "sip:127.0.0.1", "C1", "bare"))), 0);
  EXPECT_TRUE(eventually([&] { return c1.log().find(": no client certificate") != std::string::npos; }, 3s));
  TlsPhone with_certificate(c1.port(), certificates("C1") / "cafile.pem", certificates("D1") / "agent.pem");
  ASSERT_TRUE(with_certificate.handshake_ok());
  EXPECT_EQ(status_of(with_certificate.exchange(request("OPTIONS", "sip:127.0.0.1", "C1", "withcert"))), 200);
}
