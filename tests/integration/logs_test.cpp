// Logs people can read (issue 15 parts 3 and 5): a real family server logging
// to a file at info writes one line per registration change, redirect and
// refusal, none per refresh; log.format: json gives one valid JSON object per
// line; SIGHUP reopens the log file after logrotate's rename; sd_notify tells
// a (test) systemd READY=1, WATCHDOG=1 pings and STOPPING=1.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "log_sink.hpp"
#include "test_support.hpp"

using namespace homesip::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUser = "U1@C1.D1.H1";
constexpr const char* kContact = "sip:u1@127.0.0.1:5999";

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  if (!fs::exists(file)) return lines;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

size_t count_containing(const std::vector<std::string>& lines, const std::string& text) {
  return static_cast<size_t>(std::count_if(lines.begin(), lines.end(),
                                           [&](const std::string& l) { return l.find(text) != l.npos; }));
}

std::string register_of(const std::string& aor, const std::string& call_id, int cseq, int expires) {
  return "REGISTER sip:" + aor.substr(aor.find('@') + 1) +
         " SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK" +
         call_id + std::to_string(cseq) + "\nMax-Forwards: 70\nFrom: <sip:" + aor +
         ">;tag=f\nTo: <sip:" + aor + ">\nCall-ID: " + call_id + "\nCSeq: " + std::to_string(cseq) +
         " REGISTER\nContact: <" + kContact + ">\nExpires: " + std::to_string(expires) +
         "\nContent-Length: 0\n\n";
}

std::string invite_of(const std::string& aor) {
  return "INVITE sip:" + aor +
         " SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKinvite1\nMax-Forwards: 70\n"
         "From: <sip:U2@C1.D1.H1>;tag=c\nTo: <sip:" +
         aor +
         ">\nCall-ID: logs-invite\nCSeq: 1 INVITE\nContact: <sip:u2@127.0.0.1:$PORT$>\nContent-Length: 0\n\n";
}

// A family server H1 (store, tree, registrar) whose top does not answer: it
// serves its users all the same, and its upward registration keeps failing.
class LogsTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& extra_arguments, std::vector<std::string> prefix = {}) {
    const std::string dead_top = "sip:127.0.0.1:" + std::to_string(free_port());
    const std::string plugins = "  - plugin: location-sqlite\n    path: " + (dir_ / "h1.sqlite").string() +
                                "\n" + tree_plugin_yaml("H1", "C1.D1", dead_top) + "  - plugin: registrar\n";
    server_ = std::make_unique<HomesipServer>(dir_, ServerOptions{"H1", "C1.D1", plugins, ""});
    std::vector<std::string> arguments = {"--set", "log.level=info"};
    arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
    server_->set_extra_arguments(arguments);
    server_->set_command_prefix(std::move(prefix));
    server_->start();
  }
  void start_logging_to_file(const std::vector<std::string>& more = {}) {
    std::vector<std::string> arguments = {"--set", "log.sink=" + log_file_.string()};
    arguments.insert(arguments.end(), more.begin(), more.end());
    start(arguments);
  }
  int send(const std::string& message) { return status_of(udp_exchange(server_->port(), message)); }
  std::vector<std::string> log() const { return lines_of(log_file_); }

  TempDir dir_;
  fs::path log_file_ = dir_ / "homesipd.log";
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(LogsTest, OneLinePerRegistrationChangeRedirectAndRefusalNonePerRefresh) {
  start_logging_to_file();
  ASSERT_EQ(send(register_of(kUser, "logs-reg", 1, 600)), 200);
  const std::string added =
      "info] registration added aor=U1@C1.D1.H1 contact=<sip%3Au1@127.0.0.1%3A5999> "
      "source=udp:127.0.0.1:";
  // The 200 goes out after the line: it is in the file by now.
  EXPECT_EQ(count_containing(log(), added), 1u) << read_file(log_file_);
  EXPECT_EQ(count_containing(log(), " expires=600"), 1u) << read_file(log_file_);

  // Refreshes (the same Call-ID, a higher CSeq) change nothing worth a line
  // (the server's own upward registration may log meanwhile: not counted).
  const auto lines_but_upward = [&] {
    return log().size() - count_containing(log(), "registering H1@C1.D1");
  };
  const size_t before_refreshes = lines_but_upward();
  for (int cseq = 2; cseq <= 6; ++cseq) ASSERT_EQ(send(register_of(kUser, "logs-reg", cseq, 600)), 200);
  EXPECT_EQ(lines_but_upward(), before_refreshes) << read_file(log_file_);
  EXPECT_EQ(count_containing(log(), "registration "), 1u) << read_file(log_file_);

  // A call to the user: the family server redirects it to the user's contact.
  const std::string invited = udp_exchange(server_->port(), invite_of(kUser));
  ASSERT_EQ(status_of(invited), 302) << invited;
  EXPECT_EQ(count_containing(log(), "info] redirect method=INVITE aor=U1@C1.D1.H1 source=udp:127.0.0.1:"), 1u)
      << read_file(log_file_);
  EXPECT_EQ(count_containing(log(), " to=<sip%3Au1@127.0.0.1%3A5999>"), 1u) << read_file(log_file_);

  // A user of another family is refused here: one line with status and reason.
  ASSERT_EQ(send(register_of("U1@C1.D1.H2", "logs-other", 1, 600)), 404);
  const auto refused = log();
  EXPECT_EQ(count_containing(refused, "info] refused method=REGISTER aor=U1@C1.D1.H2 source=udp:127.0.0.1:"),
            1u)
      << read_file(log_file_);
  EXPECT_EQ(count_containing(refused, " status=404 reason=\""), 1u) << read_file(log_file_);

  // The unregister: one line.
  ASSERT_EQ(send(register_of(kUser, "logs-reg", 7, 0)), 200);
  const std::string removed =
      "info] registration removed aor=U1@C1.D1.H1 contact=<sip%3Au1@127.0.0.1%3A5999> source=udp:127.0.0.1:";
  EXPECT_EQ(count_containing(log(), removed), 1u) << read_file(log_file_);
  EXPECT_EQ(count_containing(log(), "registration "), 2u) << read_file(log_file_);

  // The top never answers: the upward registration failed on every attempt
  // so far, but warned once (its retries went to debug).
  EXPECT_EQ(count_containing(log(), "[warning] registering H1@C1.D1 failed"), 1u) << read_file(log_file_);
  EXPECT_EQ(server_->stop(), 0);
}

// {"time": "2026-11-30T03:04:05.678Z", "level": ..., "logger": ..., "message": ...}
void expect_json_line(const std::string& line) {
  const auto object = nlohmann::json::parse(line, nullptr, false);
  ASSERT_TRUE(object.is_object()) << line;
  EXPECT_EQ(object.size(), 4u) << line;
  for (const char* field : {"time", "level", "logger", "message"})
    ASSERT_TRUE(object.contains(field) && object[field].is_string()) << field << " in " << line;
  static const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  EXPECT_TRUE(std::regex_match(object["time"].get<std::string>(), iso)) << line;
}

TEST_F(LogsTest, JsonFormatWritesOneValidObjectPerLine) {
  start_logging_to_file({"--set", "log.format=json"});
  ASSERT_EQ(send(register_of(kUser, "logs-json", 1, 600)), 200);
  ASSERT_EQ(server_->stop(), 0);
  const auto lines = log();
  ASSERT_GE(lines.size(), 4u) << read_file(log_file_);
  bool registration = false, serving = false;
  for (const auto& line : lines) {
    expect_json_line(line);
    const auto object = nlohmann::json::parse(line, nullptr, false);
    if (!object.is_object()) continue;
    const std::string message = object.value("message", "");
    if (object["logger"] == "registrar" && object["level"] == "info" &&
        message.rfind("registration added aor=U1@C1.D1.H1 ", 0) == 0)
      registration = true;
    if (object["logger"] == "homesipd" && message.find(" serving (") != message.npos) serving = true;
  }
  EXPECT_TRUE(registration) << read_file(log_file_);
  EXPECT_TRUE(serving) << read_file(log_file_);
}

TEST(JsonLineFormatter, AnyMessageMakesValidJson) {
  homesip::core::JsonLineFormatter formatter;
  const std::string nasty = "quote \" backslash \\ newline \n tab \t nul-free bytes \xff\xfe end";
  spdlog::details::log_msg msg("registrar", spdlog::level::warn, nasty);
  spdlog::memory_buf_t out;
  formatter.format(msg, out);
  const std::string text(out.data(), out.size());
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;  // one line, whatever the message
  expect_json_line(text.substr(0, text.size() - 1));
  const auto object = nlohmann::json::parse(text);
  EXPECT_EQ(object["level"], "warning");
  EXPECT_EQ(object["logger"], "registrar");
  EXPECT_EQ(object["message"].get<std::string>().rfind("quote \" backslash \\ newline \n tab", 0), 0u);
}

TEST_F(LogsTest, SighupAfterRenameWritesToANewFileAtTheOldPath) {
  start_logging_to_file();
  ASSERT_EQ(send(register_of(kUser, "logs-hup-1", 1, 600)), 200);
  const fs::path rotated = dir_ / "homesipd.log.1";
  fs::rename(log_file_, rotated);  // logrotate's rename, then its HUP
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  ASSERT_TRUE(
      eventually([&] { return count_containing(log(), "SIGHUP: log file") == 1; }, std::chrono::seconds(5)))
      << read_file(rotated);
  ASSERT_EQ(send(register_of("U2@C1.D1.H1", "logs-hup-2", 1, 600)), 200);

  const auto old_lines = lines_of(rotated);
  const auto new_lines = log();
  EXPECT_EQ(count_containing(old_lines, "registration added aor=U1@C1.D1.H1 "), 1u) << read_file(rotated);
  EXPECT_EQ(count_containing(old_lines, "registration added aor=U2@C1.D1.H1 "), 0u) << read_file(rotated);
  EXPECT_EQ(count_containing(new_lines, "registration added aor=U2@C1.D1.H1 "), 1u) << read_file(log_file_);
  EXPECT_EQ(count_containing(new_lines, "registration added aor=U1@C1.D1.H1 "), 0u) << read_file(log_file_);
  EXPECT_EQ(count_containing(new_lines, "info] SIGHUP: log file " + log_file_.string() + " reopened"), 1u);
  // Still the same server, serving, and it stops cleanly.
  EXPECT_EQ(send(register_of(kUser, "logs-hup-1", 2, 600)), 200);
  EXPECT_EQ(server_->stop(), 0);
}

TEST_F(LogsTest, SighupWithStderrIsLoggedOnceAndChangesNothing) {
  start({});
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
    ASSERT_EQ(send(register_of(kUser, "logs-hup-stderr", i + 1, 600)), 200);  // alive and serving
  }
  EXPECT_EQ(server_->stop(), 0);
  EXPECT_EQ(count_containing(lines_of(server_->log()), "SIGHUP: logging to stderr, no log file to reopen"),
            1u)
      << read_file(server_->log());
}

// What a systemd would hear on NOTIFY_SOCKET: datagrams collected by a thread.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot bind " + path.string());
    timeval tick{0, 50 * 1000};  // the reader looks at `stop_` at least every 50 ms
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    reader_ = std::thread([this] { read_until_stopped(); });
  }
  ~NotifySocket() {
    stop_ = true;
    reader_.join();
    ::close(fd_);
  }
  // Messages received so far, each as sent ("READY=1\nSTATUS=...").
  std::vector<std::string> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  size_t count(const std::string& prefix) {
    const auto all = messages();
    return static_cast<size_t>(
        std::count_if(all.begin(), all.end(), [&](const std::string& m) { return m.rfind(prefix, 0) == 0; }));
  }

 private:
  void read_until_stopped() {
    char buffer[4096];
    while (!stop_) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) continue;
      std::lock_guard lock(mutex_);
      messages_.emplace_back(buffer, static_cast<size_t>(n));
    }
  }
  fs::path path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> messages_;
  std::thread reader_;
};

TEST_F(LogsTest, SdNotifyReadyWatchdogAndStopping) {
  NotifySocket systemd(dir_ / "notify.sock");
  // env execs homesipd: the same PID, so WATCHDOG_PID is not needed.
  start({}, {"env", "NOTIFY_SOCKET=" + (dir_ / "notify.sock").string(), "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(eventually([&] { return systemd.count("READY=1") == 1; }, std::chrono::seconds(5)));
  const auto first = systemd.messages().front();
  EXPECT_EQ(first, "READY=1\nSTATUS=serving udp:127.0.0.1:" + std::to_string(server_->port()));
  // A ping every 200 ms: at least two within 2 s of being ready.
  const size_t pings_at_ready = systemd.count("WATCHDOG=1");
  EXPECT_TRUE(
      eventually([&] { return systemd.count("WATCHDOG=1") >= pings_at_ready + 2; }, std::chrono::seconds(2)));
  EXPECT_EQ(systemd.count("STOPPING=1"), 0u);
  EXPECT_EQ(server_->stop(), 0);
  EXPECT_TRUE(eventually([&] { return systemd.count("STOPPING=1") == 1; }, std::chrono::seconds(2)));
  // No ping after STOPPING=1.
  const auto all = systemd.messages();
  const auto stopping = std::find_if(all.begin(), all.end(),
                                     [](const std::string& m) { return m.rfind("STOPPING=1", 0) == 0; });
  EXPECT_EQ(std::count(stopping, all.end(), "WATCHDOG=1"), 0);
}

TEST_F(LogsTest, WithoutNotifySocketNothingIsSentAndNoWatchdogRuns) {
  start_logging_to_file();
  ASSERT_EQ(send(register_of(kUser, "logs-no-systemd", 1, 600)), 200);
  EXPECT_EQ(server_->stop(), 0);
  EXPECT_EQ(count_containing(log(), "systemd watchdog"), 0u) << read_file(log_file_);
  EXPECT_EQ(count_containing(log(), "sd_notify"), 0u) << read_file(log_file_);
}

}  // namespace
