// homesip-loadgen: SIP load over UDP or TCP (REGISTER with or without digest, INVITE -> 302), the users
// of an authenticated load, and a bare responder that measures the machine's ceiling.
//
//   homesip-loadgen users --users 10000 --admin-socket /tmp/h1.sock      (homesipd's auth-digest)
//   homesip-loadgen users --users 10000 --kamailio-sql | sqlite3 subscriber.sqlite
//   homesip-loadgen register --server 127.0.0.1:5060 --users 10000 --requests 20000 --rate 2000
//   homesip-loadgen register --no-auth --call-id per-user --cseq 2 ...   (refresh a first run's bindings)
//   homesip-loadgen register --sockets 8 ...   (8 source ports: a server's loops each get some)
//   homesip-loadgen register --no-auth --follow-redirects --honour-retry-after ...   (bench/storm.sh)
//   homesip-loadgen invite --server 127.0.0.1:5060 --users 10000 --requests 20000 --rate 2000 --expect 302
//   homesip-loadgen responder --listen 127.0.0.1:5099 --max-seconds 300
//
// Users are PREFIX<n>@DOMAIN, n = FIRST.., each with the password derived from --seed (the same
// options give the same users and passwords in every command). `register` and `invite` print what
// they measured; exit 0 when every request got its expected final response, 1 otherwise.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "responder.hpp"
#include "sip_load.hpp"
#include "users.hpp"

namespace {

using homesip::loadgen::CallIdScope;
using homesip::loadgen::LoadOptions;
using homesip::loadgen::LoadReport;
using homesip::loadgen::Method;
using homesip::loadgen::Pattern;
using homesip::loadgen::Transport;
using homesip::loadgen::UserSet;

void add_user_options(CLI::App& command, UserSet& users) {
  command.add_option("--domain", users.domain, "the users' domain, also the digest realm")
      ->capture_default_str();
  command.add_option("--prefix", users.prefix, "user names are PREFIX<n>")->capture_default_str();
  command.add_option("--first", users.first, "the first n")->capture_default_str();
  command.add_option("--users", users.count, "how many users")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--seed", users.seed, "each user's password is derived from this and the name")
      ->capture_default_str();
}

std::pair<std::string, uint16_t> host_and_port(const std::string& text, const std::string& option) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument(option + " must be HOST:PORT, not " + text);
  return {text.substr(0, colon), static_cast<uint16_t>(std::stoul(text.substr(colon + 1)))};
}

// What register and invite share: where to, how many, how fast, in what pattern.
void add_load_options(CLI::App& command, LoadOptions& load, std::string& server, bool& tsv) {
  add_user_options(command, load.users);
  command.add_option("--server", server, "HOST:PORT")->required();
  command.add_option("--local", load.local_host, "local IPv4 address")->capture_default_str();
  command
      .add_option("--local-port", load.local_port,
                  "local UDP port (0: any); the same in every run keeps one binding per user (over TCP "
                  "the Contact names it, the connections' ports being the kernel's)")
      ->capture_default_str();
  command
      .add_option("--sockets", load.sockets,
                  "UDP sockets, request i from socket i mod N (ports --local-port + k, or any): a server "
                  "spreading its loops by source port sees N sources")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  command
      .add_option_function<std::string>(
          "--transport",
          [&load](const std::string& t) { load.transport = t == "tcp" ? Transport::kTcp : Transport::kUdp; },
          "udp, or tcp: --sockets connections to the server, opened before the load starts, no "
          "retransmissions")
      ->default_str("udp")
      ->check(CLI::IsMember({"udp", "tcp"}));
  command.add_option("--requests", load.requests, "requests to send (user n = request n mod users)")
      ->required()
      ->check(CLI::PositiveNumber);
  command.add_option("--rate", load.rate, "requests started per second")
      ->required()
      ->check(CLI::PositiveNumber);
  command
      .add_option_function<std::string>(
          "--pattern",
          [&load](const std::string& p) { load.pattern = p == "burst" ? Pattern::kBurst : Pattern::kEven; },
          "even: request i at i/rate; burst: --burst requests every burst/rate seconds")
      ->default_str("even")
      ->check(CLI::IsMember({"even", "burst"}));
  command.add_option("--burst", load.burst, "requests per burst (SIPp: 32 every 4 ms at 8000/s)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command
      .add_option("--tick-us", load.tick_us,
                  "0: each request leaves at its own instant; N: the loop turns once per N µs, sending "
                  "the requests due (never early) and reading the responses together")
      ->capture_default_str();
  command.add_option("--window", load.window, "at most this many requests in flight (0: no bound)")
      ->capture_default_str();
  command.add_option("--timeout-ms", load.timeout_ms, "per request, first send to final response")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--max-seconds", load.max_seconds, "the whole run at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_flag(
      "--tsv", tsv,
      "one tab-separated line: requests ok failed timed_out retransmissions "
      "challenges_again per_s p50_us p99_us max_us cpu_us_per_request elapsed_s send_s; with "
      "--honour-retry-after or --follow-redirects also busy_503 busy_retries redirects max_hops");
}

std::string describe(const LoadOptions& o) {
  if (o.method == Method::kInvite) return "INVITE -> " + std::to_string(o.expect_status) + " + ACK";
  std::string text =
      o.authenticate ? "REGISTER with digest (" + o.algorithm + ")" : "REGISTER without digest";
  return text + (o.call_id_scope == CallIdScope::kPerUser
                     ? ", Call-ID per user from CSeq " + std::to_string(o.first_cseq)
                     : ", Call-ID per request");
}

bool reports_retries(const LoadOptions& o) { return o.honour_retry_after || o.follow_redirects; }

void print_text(const LoadReport& r, const LoadOptions& o) {
  std::printf(
      "%s, %llu users, %.0f/s offered (%s), %u%s%s\n", describe(o).c_str(),
      static_cast<unsigned long long>(o.users.count), o.rate,
      o.pattern == Pattern::kBurst ? ("bursts of " + std::to_string(o.burst)).c_str() : "evenly spaced",
      o.sockets, o.transport == Transport::kTcp ? " TCP connection" : " socket", o.sockets == 1 ? "" : "s");
  std::printf(
      "  started %llu, ok %llu, failed %llu, timed out %llu, retransmissions %llu, challenges again "
      "%llu\n",
      static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.failed), static_cast<unsigned long long>(r.timed_out),
      static_cast<unsigned long long>(r.retransmissions),
      static_cast<unsigned long long>(r.extra_challenges));
  if (reports_retries(o))
    std::printf(
        "  503 with Retry-After %llu, sent again after it %llu, 302s followed %llu (at most %u hops)\n",
        static_cast<unsigned long long>(r.busy_503), static_cast<unsigned long long>(r.busy_retries),
        static_cast<unsigned long long>(r.redirects), r.max_hops);
  for (const auto& [status, n] : r.failures_by_status)
    std::printf("  final %d: %llu\n", status, static_cast<unsigned long long>(n));
  std::printf("  sent over %.3f s (started up to %lld us late), done in %.3f s: %.0f ok/s\n", r.send_seconds,
              static_cast<long long>(r.max_start_lag_us), r.elapsed_seconds, r.achieved_per_second);
  std::printf("  latency (first send -> final) p50 %lld us, p99 %lld us, max %lld us\n",
              static_cast<long long>(r.p50_us), static_cast<long long>(r.p99_us),
              static_cast<long long>(r.max_us));
  std::printf("  loadgen CPU %.3f s: %.1f us per request\n", r.cpu_seconds, r.cpu_us_per_request);
}

// One line, tab-separated, for scripts (bench/auth.sh, bench/fair.sh): the columns in this order.
// The retry columns come only with the options that make them, so that the scripts reading 13
// columns into 13 names keep their last one.
void print_tsv(const LoadReport& r, const LoadOptions& o) {
  std::printf("%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%.0f\t%lld\t%lld\t%lld\t%.1f\t%.3f\t%.3f",
              static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.ok),
              static_cast<unsigned long long>(r.failed), static_cast<unsigned long long>(r.timed_out),
              static_cast<unsigned long long>(r.retransmissions),
              static_cast<unsigned long long>(r.extra_challenges), r.achieved_per_second,
              static_cast<long long>(r.p50_us), static_cast<long long>(r.p99_us),
              static_cast<long long>(r.max_us), r.cpu_us_per_request, r.elapsed_seconds, r.send_seconds);
  if (reports_retries(o))
    std::printf("\t%llu\t%llu\t%llu\t%u", static_cast<unsigned long long>(r.busy_503),
                static_cast<unsigned long long>(r.busy_retries), static_cast<unsigned long long>(r.redirects),
                r.max_hops);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "SIP load over UDP or TCP: REGISTER (with or without digest), INVITE -> 302, a bare responder"};
  app.require_subcommand(1);

  UserSet users;
  std::string admin_socket, role = "member";
  bool kamailio_sql = false;
  CLI::App* users_command =
      app.add_subcommand("users", "put the users into homesipd, or print them for Kamailio");
  add_user_options(*users_command, users);
  auto* to_homesip = users_command->add_option("--admin-socket", admin_socket,
                                               "homesipd's admin socket: auth-digest.user-put each user");
  users_command->add_option("--role", role, "role of the users put into homesipd")->capture_default_str();
  auto* to_kamailio = users_command->add_flag(
      "--kamailio-sql", kamailio_sql, "print INSERTs for Kamailio's subscriber table (MD5 HA1, HA1B)");
  to_homesip->excludes(to_kamailio);

  LoadOptions load;
  std::string server;
  bool tsv = false, no_auth = false;
  CLI::App* register_command = app.add_subcommand(
      "register", "REGISTER -> 401 -> REGISTER with credentials -> 200, or with --no-auth REGISTER -> 200");
  add_load_options(*register_command, load, server, tsv);
  register_command->add_flag("--no-auth", no_auth, "plain REGISTER, no digest: expect 200 at once");
  register_command
      ->add_option("--algorithm", load.algorithm, "the offered challenge to answer: MD5 or SHA-256")
      ->capture_default_str()
      ->check(CLI::IsMember({"MD5", "SHA-256"}));
  register_command
      ->add_option_function<std::string>(
          "--call-id",
          [&load](const std::string& s) {
            load.call_id_scope = s == "per-user" ? CallIdScope::kPerUser : CallIdScope::kPerRequest;
          },
          "per-request: each REGISTER a new Call-ID; per-user: each user's own, CSeq rising (a refresh)")
      ->default_str("per-request")
      ->check(CLI::IsMember({"per-request", "per-user"}));
  register_command
      ->add_option("--cseq", load.first_cseq,
                   "the first CSeq (per-user: of round 0; higher than the last run's to refresh)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  register_command->add_option("--expires", load.expires, "Expires of each REGISTER")->capture_default_str();
  register_command->add_flag(
      "--honour-retry-after", load.honour_retry_after,
      "a 503 with Retry-After: send the REGISTER again after it (+ up to 10%), 5 times "
      "at most, never past --max-seconds");
  register_command
      ->add_option("--domains", load.domains,
                   "comma-separated: user n's domain is the (n mod count)-th (many families at once; with "
                   "--no-auth)")
      ->delimiter(',');
  register_command->add_flag("--follow-redirects", load.follow_redirects,
                             "a 302: send the REGISTER to its Contact's host:port (8 hops at most)");

  LoadOptions invite;
  invite.method = Method::kInvite;
  invite.authenticate = false;
  std::string invite_server;
  bool invite_tsv = false;
  CLI::App* invite_command =
      app.add_subcommand("invite", "INVITE to user n -> the expected final response (302, or 404) + ACK");
  add_load_options(*invite_command, invite, invite_server, invite_tsv);
  invite_command->add_option("--expect", invite.expect_status, "the final status that counts as success")
      ->capture_default_str()
      ->check(CLI::Range(200, 699));

  homesip::loadgen::ResponderOptions responder;
  std::string listen;
  CLI::App* responder_command = app.add_subcommand(
      "responder", "answer every request (not ACK) with a minimal 200 OK: the machine's ceiling");
  responder_command->add_option("--listen", listen, "HOST:PORT (UDP)")->required();
  responder_command->add_option("--max-seconds", responder.max_seconds, "stop after this at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  CLI11_PARSE(app, argc, argv);
  try {
    if (users_command->parsed()) {
      if (kamailio_sql) {
        homesip::loadgen::write_kamailio_sql(users, std::cout);
      } else if (!admin_socket.empty()) {
        homesip::loadgen::put_users(users, admin_socket, role);
        std::cerr << users.count << " users put into homesipd\n";
      } else {
        std::cerr << "users: give --admin-socket PATH or --kamailio-sql\n";
        return 2;
      }
      return 0;
    }
    if (responder_command->parsed()) {
      std::tie(responder.host, responder.port) = host_and_port(listen, "--listen");
      const auto answered = homesip::loadgen::run_responder(responder);
      std::cerr << "responder: answered " << answered.requests << " requests from "
                << answered.per_source_port.size() << " source ports";
      if (!answered.per_source_port.empty()) {
        const auto [fewest, most] =
            std::minmax_element(answered.per_source_port.begin(), answered.per_source_port.end(),
                                [](const auto& a, const auto& b) { return a.second < b.second; });
        std::cerr << " (" << fewest->second << " to " << most->second << " each)";
      }
      std::cerr << "\n";
      return 0;
    }
    if (invite_command->parsed()) {
      load = invite;
      server = invite_server;
      tsv = invite_tsv;
    }
    load.authenticate = load.authenticate && !no_auth;
    std::tie(load.server_host, load.server_port) = host_and_port(server, "--server");
    const LoadReport report = homesip::loadgen::run_load(load);
    if (tsv)
      print_tsv(report, load);
    else
      print_text(report, load);
    return report.ok == load.requests ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "homesip-loadgen: " << e.what() << "\n";
    return 2;
  }
}
