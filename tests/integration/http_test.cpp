// The core's HTTP listener (server.http) against a real homesipd: the token
// (Bearer, cookie, ?token= once), /api/ running the admin socket's commands,
// /metrics in the Prometheus text format counted after real REGISTERs, and
// the pages the fixture plugin test-http claims, a 504 when the loop does not
// answer within 5 s; --check-config refusing a
// listener others can reach without a token.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

const std::string kToken = "s3cret-token-0123456789";

// /metrics as samples: the series with its labels as written -> value. Every
// line is a comment or "SERIES VALUE"; anything else fails the test.
std::map<std::string, double> parse_exposition(const std::string& text,
                                               std::map<std::string, std::string>* types) {
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      if (types) (*types)[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    const std::string value = line.substr(space + 1);
    samples[line.substr(0, space)] = value == "+Inf" ? INFINITY : std::stod(value);
  }
  return samples;
}

// The sample `series`, or a failure showing the whole page.
double sample(const std::map<std::string, double>& samples, const std::string& series,
              const std::string& page) {
  const auto found = samples.find(series);
  if (found != samples.end()) return found->second;
  ADD_FAILURE() << "no sample " << series << " in\n" << page;
  return -1;
}

std::string register_request(const std::string& user) {
  return "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bK" + user +
         "\nMax-Forwards: 70\nFrom: <sip:" + user + "@C1.D1.H1>;tag=" + user + "\nTo: <sip:" + user +
         "@C1.D1.H1>\nCall-ID: " + user + "@http-test\nCSeq: 1 REGISTER\nContact: <sip:" + user +
         "@127.0.0.1:9999>\nExpires: 600\nUser-Agent: http-test\nContent-Length: 0\n\n";
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_port_ = free_port();
    const auto token_file = dir_ / "http.token";
    write_file(token_file, kToken + "\n");
    ::chmod(token_file.c_str(), 0600);
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                                "\n  - plugin: registrar\n    domains: [C1.D1.H1]\n"
                                "  - plugin: test-provider\n  - plugin: test-http\n",
                            "  http:\n    listen: 127.0.0.1:" + std::to_string(http_port_) +
                                "\n    token_file: " + token_file.string() +
                                // The read-only default and two of the test plugin's commands:
                                // badjson and unbound stay off.
                                "\n    commands: [help, stats, plugins, bindings, \"*.tree\", "
                                "test-provider.echo, test-provider.fails]\n"});
    server_->set_extra_arguments({"--set", "server.plugin_dirs=[" + plugin_dir() + ", " +
                                               std::string(HOMESIP_TEST_FIXTURE_PLUGIN_DIR) + "]"});
    server_->start();
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_connection_timeout(3);
    c.set_read_timeout(10);
    return c;
  }
  // GET with the token as a Bearer header.
  httplib::Result get(const std::string& path) {
    return client().Get(path, httplib::Headers{{"Authorization", "Bearer " + kToken}});
  }
  std::string metrics_text() {
    const auto r = get("/metrics");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r->body;
  }

  TempDir dir_;
  uint16_t http_port_ = 0;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(HttpTest, WithoutTheTokenEverythingIs401AndEachSourceIsLoggedOnce) {
  for (const char* path : {"/api/stats", "/metrics", "/hello", "/nothing-here"}) {
    const auto r = client().Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer") << path;
  }
  const auto wrong =
      client().Get("/api/stats", httplib::Headers{{"Authorization", "Bearer " + kToken + "x"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  const auto short_one = client().Get("/api/stats", httplib::Headers{{"Cookie", "homesip_token=s3cret"}});
  ASSERT_TRUE(short_one);
  EXPECT_EQ(short_one->status, 401);
  // Six refusals from 127.0.0.1: one log line for that source in the minute.
  const std::string log = read_file(server_->log());
  size_t lines = 0;
  for (size_t at = log.find(": 401, "); at != std::string::npos; at = log.find(": 401, ", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_NE(log.find("HTTP GET /api/stats from 127.0.0.1: 401, no valid token"), std::string::npos) << log;
}

TEST_F(HttpTest, WithTheTokenStatsAnswerAsJsonWithTheSafeHeaders) {
  const auto r = get("/api/stats");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->get_header_value("Content-Security-Policy"), "default-src 'self'");
  const auto stats = nlohmann::json::parse(r->body);
  EXPECT_EQ(stats["server"], "udp:127.0.0.1:" + std::to_string(server_->port())) << r->body;
  EXPECT_EQ(stats["tcp_tls_connections"], 0) << r->body;
}

TEST_F(HttpTest, TokenInTheQuerySetsTheCookieAndRedirectsWithoutIt) {
  const auto r = client().Get("/hello?token=" + kToken + "&name=ann");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/hello?name=ann");
  EXPECT_EQ(r->get_header_value("Set-Cookie"),
            "homesip_token=" + kToken + "; Path=/; HttpOnly; SameSite=Strict");
  // A path of "//host" stays on this server.
  const auto elsewhere = client().Get("//evil.example/x?token=" + kToken);
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 303);
  EXPECT_EQ(elsewhere->get_header_value("Location"), "/evil.example/x");
  const auto bad = client().Get("/hello?token=nope&name=ann");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_TRUE(bad->get_header_value("Set-Cookie").empty());
  const auto with_cookie =
      client().Get("/hello?name=ann", httplib::Headers{{"Cookie", "other=1; homesip_token=" + kToken}});
  ASSERT_TRUE(with_cookie);
  EXPECT_EQ(with_cookie->status, 200);
  EXPECT_EQ(with_cookie->body, "hello ann\n");
}

TEST_F(HttpTest, ApiRunsTheAdminCommands) {
  ASSERT_EQ(status_of(udp_exchange(server_->port(), register_request("U1"))), 200);
  auto r = get("/api/bindings?arg=C1.D1.H1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto bindings = nlohmann::json::parse(r->body);
  ASSERT_EQ(bindings["U1@C1.D1.H1"].size(), 1u) << r->body;
  EXPECT_EQ(bindings["U1@C1.D1.H1"][0]["contact"], "sip:U1@127.0.0.1:9999");
  EXPECT_EQ(bindings["U1@C1.D1.H1"][0]["user_agent"], "http-test");
  r = get("/api/bindings?arg=U1@C1.D1.H1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body)["U1@C1.D1.H1"][0]["contact"], "sip:U1@127.0.0.1:9999");

  r = get("/api/test-provider.echo?arg=a%20b&arg=c");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json::parse(R"(["a b","c"])")) << r->body;

  r = get("/api/");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const auto list = nlohmann::json::parse(r->body);
  for (const char* name : {"help", "stats", "bindings", "plugins", "test-provider.echo"})
    EXPECT_TRUE(list.contains(name)) << name << " in " << r->body;
  EXPECT_FALSE(list.contains("test-provider.badjson")) << "not in server.http.commands: " << r->body;
}

// A GET must not change anything: /api/ runs only the commands server.http.commands
// names (homesipctl on the admin socket runs them all).
TEST_F(HttpTest, ACommandNotInServerHttpCommandsIs403) {
  const auto r = get("/api/test-provider.badjson");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(nlohmann::json::parse(r->body),
            nlohmann::json(
                {{"error", "command test-provider.badjson is not served over HTTP (server.http.commands)"}}));
}

TEST_F(HttpTest, UnknownCommandIs404AndAFailingOneIs400) {
  auto r = get("/api/nosuch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json({{"error", "no command nosuch"}}));
  r = get("/api/test-provider.fails");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json({{"error", "the widget bus is down"}}));
  r = get("/api/bindings");  // no domain: the usage
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(nlohmann::json::parse(r->body)["error"].get<std::string>().find("bindings DOMAIN"),
            std::string::npos)
      << r->body;
  r = client().Post("/api/stats", httplib::Headers{{"Authorization", "Bearer " + kToken}}, "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
}

TEST_F(HttpTest, PluginPagesByExactPathOrClaimedPrefix) {
  auto r = get("/hello?name=bob");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello bob\n");
  r = get("/files/a/b.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /files/a/b.txt\n");
  for (const char* unclaimed : {"/hello/x", "/files", "/", "/nothing"}) {
    r = get(unclaimed);
    ASSERT_TRUE(r) << unclaimed;
    EXPECT_EQ(r->status, 404) << unclaimed;
  }
  r = client().Head("/hello", httplib::Headers{{"Authorization", "Bearer " + kToken}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  // The plugins' pages go before their libraries: homesipd stops cleanly (it crashed at exit).
  EXPECT_EQ(server_->stop(), 0);
}

// A loop that does not answer within 5 s (here test-http's /stall holding it
// 6 s, as a plugin blocking its loop would) gets a 504 with its JSON error, on
// time; the late answer is dropped, and the listener serves again after.
TEST_F(HttpTest, ALoopThatDoesNotAnswerIn5sIs504AndTheListenerServesAgain) {
  const auto asked = std::chrono::steady_clock::now();
  auto r = get("/stall?ms=6000");
  const auto waited = std::chrono::steady_clock::now() - asked;
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "{\"error\":\"no answer within 5000 ms\"}\n");
  EXPECT_GE(waited, std::chrono::milliseconds(4900));
  EXPECT_LT(waited, std::chrono::milliseconds(5900)) << "answered by the loop, not by the timeout";
  // Once the loop is free: answered by the plugin again, and the stall itself too.
  r = get("/hello?name=again");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello again\n");
  r = get("/stall?ms=10");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "stalled\n");
  EXPECT_EQ(server_->stop(), 0);
}

TEST_F(HttpTest, MetricsCountExactlyTheRegistersAndTheirLatency) {
  constexpr int kRegisters = 5;
  for (int i = 0; i < kRegisters; ++i)
    ASSERT_EQ(status_of(udp_exchange(server_->port(), register_request("M" + std::to_string(i)))), 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(get("/hello")->status, 200);

  std::map<std::string, std::string> types;
  const std::string text = metrics_text();
  const auto samples = parse_exposition(text, &types);
  EXPECT_EQ(sample(samples, "homesip_requests_total{method=\"REGISTER\",status=\"200\"}", text), kRegisters)
      << text;
  EXPECT_EQ(types["homesip_requests_total"], "counter");
  EXPECT_EQ(types["homesip_request_duration_seconds"], "histogram");
  EXPECT_EQ(sample(samples, "homesip_request_duration_seconds_count{method=\"REGISTER\"}", text), kRegisters)
      << text;
  EXPECT_GT(sample(samples, "homesip_request_duration_seconds_sum{method=\"REGISTER\"}", text), 0) << text;
  // Cumulative buckets: never fewer than the one before, +Inf holding all.
  double previous = 0;
  size_t buckets = 0;
  for (const auto& [series, value] : samples)
    if (series.rfind("homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=", 0) == 0) ++buckets;
  EXPECT_EQ(buckets, 16u) << text;
  for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                         "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"}) {
    const double value = sample(
        samples,
        std::string("homesip_request_duration_seconds_bucket{method=\"REGISTER\",le=\"") + le + "\"}", text);
    EXPECT_GE(value, previous) << le << "\n" << text;
    previous = value;
  }
  EXPECT_EQ(previous, kRegisters);
  // The registrar's own counter, and the core's.
  EXPECT_EQ(sample(samples, "homesip_registrar_registrations_total", text), kRegisters) << text;
  EXPECT_EQ(types["homesip_registrar_registrations_total"], "counter");
  EXPECT_EQ(sample(samples, "homesip_tcp_tls_connections", text), 0);
  // The store's write latency: one observation per REGISTER (put to commit).
  EXPECT_EQ(types["homesip_location_sqlite_write_seconds"], "histogram");
  EXPECT_EQ(sample(samples, "homesip_location_sqlite_write_seconds_count", text), kRegisters) << text;
  EXPECT_EQ(sample(samples, "homesip_location_sqlite_write_seconds_bucket{le=\"+Inf\"}", text), kRegisters);
  // test-http's histogram: two observations of 3 ms each.
  EXPECT_EQ(types["homesip_test_http_serve_seconds"], "histogram");
  EXPECT_EQ(sample(samples, "homesip_test_http_serve_seconds_bucket{le=\"0.0025\"}", text), 0) << text;
  EXPECT_EQ(sample(samples, "homesip_test_http_serve_seconds_bucket{le=\"0.005\"}", text), 2) << text;
  EXPECT_EQ(sample(samples, "homesip_test_http_serve_seconds_bucket{le=\"+Inf\"}", text), 2) << text;
  EXPECT_EQ(sample(samples, "homesip_test_http_serve_seconds_count", text), 2) << text;
  EXPECT_DOUBLE_EQ(sample(samples, "homesip_test_http_serve_seconds_sum", text), 0.006) << text;
  // Every sample's family has its # TYPE.
  for (const auto& [series, value] : samples) {
    std::string family = series.substr(0, series.find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (family.ends_with(suffix) && !types.count(family))
        family = family.substr(0, family.size() - std::string(suffix).size());
    EXPECT_TRUE(types.count(family)) << series;
  }
}

// `stats` and `plugins` (socket and /api/ alike) show a histogram as one.
TEST_F(HttpTest, PluginsAndStatsNameTheHistogramType) {
  auto r = get("/api/plugins");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  bool seen = false;
  for (const auto& plugin : nlohmann::json::parse(r->body))
    if (plugin["name"] == "test-http") {
      ASSERT_EQ(plugin["metrics"].size(), 1u);
      EXPECT_EQ(plugin["metrics"][0]["type"], "histogram");
      seen = true;
    }
  EXPECT_TRUE(seen) << r->body;
  ASSERT_EQ(get("/hello")->status, 200);
  r = get("/api/stats");
  ASSERT_TRUE(r);
  const auto histogram = nlohmann::json::parse(r->body)["metrics"]["homesip_test_http_serve_seconds"];
  EXPECT_EQ(histogram["type"], "histogram") << r->body;
  EXPECT_EQ(histogram["count"], 1) << r->body;
}

// A listener others can reach runs admin commands: not without a token.
TEST(HttpConfigTest, NonLoopbackWithoutATokenFileIsRefusedAtCheckConfig) {
  TempDir dir;
  const auto config = dir / "c.yaml";
  write_file(config, "server:\n  listen: [udp:127.0.0.1:" + std::to_string(free_port()) +
                         "]\n  http:\n    listen: 0.0.0.0:8080\nplugins:\n");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", config.string(), "--check-config"}, &out), 2) << out;
  EXPECT_NE(out.find("c.yaml:4: server.http.token_file: required: 0.0.0.0:8080 is not a loopback address"),
            std::string::npos)
      << out;
  // The same at start.
  EXPECT_EQ(run({homesipd_path(), "--config", config.string()}, &out), 2) << out;
  EXPECT_NE(out.find("server.http.token_file"), std::string::npos) << out;

  const auto token = dir / "token";
  write_file(token, kToken + "\n");
  ::chmod(token.c_str(), 0644);
  EXPECT_EQ(run({homesipd_path(), "--config", config.string(), "--check-config", "--set",
                 "server.http.token_file=" + token.string()},
                &out),
            2)
      << out;
  EXPECT_NE(out.find("server.http.token_file: " + token.string() + " is open to group or others (mode 644)"),
            std::string::npos)
      << out;
  ::chmod(token.c_str(), 0600);
  EXPECT_EQ(run({homesipd_path(), "--config", config.string(), "--check-config", "--set",
                 "server.http.token_file=" + token.string()},
                &out),
            0)
      << out;
}

}  // namespace
