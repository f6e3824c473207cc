// homesip-loadgen: authenticated REGISTER load of many users, each with its own password.
//
//   homesip-loadgen users --users 10000 --admin-socket /tmp/h1.sock      (homesipd's auth-digest)
//   homesip-loadgen users --users 10000 --kamailio-sql | sqlite3 subscriber.sqlite
//   homesip-loadgen register --server 127.0.0.1:5060 --users 10000 --requests 20000 --rate 2000
//
// Users are PREFIX<n>@DOMAIN, n = FIRST.., each with the password derived from --seed (the same
// options give the same users and passwords in all three commands). `register` prints what it
// measured; exit 0 when every REGISTER got its 200, 1 otherwise.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "register_load.hpp"
#include "users.hpp"

namespace {

using homesip::loadgen::LoadOptions;
using homesip::loadgen::LoadReport;
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

void print_text(const LoadReport& r, const LoadOptions& o) {
  std::printf("REGISTER with digest (%s), %llu users, %.0f/s offered\n", o.algorithm.c_str(),
              static_cast<unsigned long long>(o.users.count), o.rate);
  std::printf(
      "  started %llu, 200 OK %llu, failed %llu, timed out %llu, retransmissions %llu, challenges again "
      "%llu\n",
      static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.failed), static_cast<unsigned long long>(r.timed_out),
      static_cast<unsigned long long>(r.retransmissions),
      static_cast<unsigned long long>(r.extra_challenges));
  for (const auto& [status, n] : r.failures_by_status)
    std::printf("  final %d: %llu\n", status, static_cast<unsigned long long>(n));
  std::printf("  sent over %.3f s, done in %.3f s: %.0f authenticated REGISTER/s\n", r.send_seconds,
              r.elapsed_seconds, r.achieved_per_second);
  std::printf("  latency (first send -> 200) p50 %lld us, p99 %lld us, max %lld us\n",
              static_cast<long long>(r.p50_us), static_cast<long long>(r.p99_us),
              static_cast<long long>(r.max_us));
  std::printf("  loadgen CPU %.3f s: %.1f us per REGISTER\n", r.cpu_seconds, r.cpu_us_per_request);
}

// One line, tab-separated, for scripts (bench/auth.sh): the columns in this order.
void print_tsv(const LoadReport& r) {
  std::printf("%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%.0f\t%lld\t%lld\t%lld\t%.1f\t%.3f\t%.3f\n",
              static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.ok),
              static_cast<unsigned long long>(r.failed), static_cast<unsigned long long>(r.timed_out),
              static_cast<unsigned long long>(r.retransmissions),
              static_cast<unsigned long long>(r.extra_challenges), r.achieved_per_second,
              static_cast<long long>(r.p50_us), static_cast<long long>(r.p99_us),
              static_cast<long long>(r.max_us), r.cpu_us_per_request, r.elapsed_seconds, r.send_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Authenticated REGISTER load of many users, each with its own password"};
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
  bool tsv = false;
  CLI::App* register_command =
      app.add_subcommand("register", "REGISTER -> 401 -> REGISTER with credentials -> 200");
  add_user_options(*register_command, load.users);
  register_command->add_option("--server", server, "HOST:PORT (UDP)")->required();
  register_command->add_option("--local", load.local_host, "local IPv4 address")->capture_default_str();
  register_command
      ->add_option("--local-port", load.local_port,
                   "local UDP port (0: any); the same in every run keeps one binding per user")
      ->capture_default_str();
  register_command
      ->add_option("--requests", load.requests, "REGISTERs to send (user n = request n mod users)")
      ->required()
      ->check(CLI::PositiveNumber);
  register_command->add_option("--rate", load.rate, "REGISTERs started per second, evenly spaced")
      ->required()
      ->check(CLI::PositiveNumber);
  register_command
      ->add_option("--algorithm", load.algorithm, "the offered challenge to answer: MD5 or SHA-256")
      ->capture_default_str()
      ->check(CLI::IsMember({"MD5", "SHA-256"}));
  register_command->add_option("--expires", load.expires, "Expires of each REGISTER")->capture_default_str();
  register_command->add_option("--timeout-ms", load.timeout_ms, "per REGISTER, first send to 200")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  register_command->add_option("--max-seconds", load.max_seconds, "the whole run at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  register_command->add_flag(
      "--tsv", tsv,
      "one tab-separated line: requests ok failed timed_out retransmissions "
      "challenges_again per_s p50_us p99_us max_us cpu_us_per_request elapsed_s send_s");

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
    const auto colon = server.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("--server must be HOST:PORT");
    load.server_host = server.substr(0, colon);
    load.server_port = static_cast<uint16_t>(std::stoul(server.substr(colon + 1)));
    const LoadReport report = homesip::loadgen::run_register_load(load);
    if (tsv)
      print_tsv(report);
    else
      print_text(report, load);
    return report.ok == load.requests ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "homesip-loadgen: " << e.what() << "\n";
    return 2;
  }
}
