// "Stores tell the truth", end to end: a homesipd whose SQLite file is taken
// away (its directory deleted) or cannot be written (opened read-only) must
// answer REGISTERs 503 with Retry-After -- never 200 -- log it once, and
// serve 200 again once the file is back, without a restart.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string store_plugins(const fs::path& file) {
  return "  - plugin: location-sqlite\n    path: " + file.string() +
         "\n    retry_interval_ms: 200\n  - plugin: registrar\n    domains: [C1.D1.H1, 127.0.0.1]\n";
}

std::string register_of(const std::string& user) {
  return "REGISTER sip:C1.D1.H1 SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKtruth-" +
         user +
         "\n"
         "Max-Forwards: 70\n"
         "From: <sip:" +
         user +
         "@C1.D1.H1>;tag=t1\n"
         "To: <sip:" +
         user +
         "@C1.D1.H1>\n"
         "Call-ID: truth-" +
         user +
         "\n"
         "CSeq: 1 REGISTER\n"
         "Contact: <sip:" +
         user +
         "@127.0.0.1:5999>\n"
         "Expires: 600\n"
         "Content-Length: 0\n\n";
}

// Lines of the log with every one of `parts`.
size_t log_lines_with(const fs::path& log, const std::vector<std::string>& parts) {
  std::istringstream lines(read_file(log));
  size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
    count += all ? 1 : 0;
  }
  return count;
}

// Registers `user` until the answer is 200 or `timeout` passes; the status
// of the last answer.
int register_until_ok(uint16_t port, const std::string& user, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (int attempt = 0; status != 200 && std::chrono::steady_clock::now() < deadline; ++attempt) {
    // A new Call-ID per attempt: each is a REGISTER of its own, not a retransmission.
    std::string message = register_of(user);
    const std::string call_id = "Call-ID: truth-" + user;
    message.replace(message.find(call_id), call_id.size(), call_id + "-" + std::to_string(attempt));
    status = status_of(udp_exchange(port, message));
    if (status != 200) std::this_thread::sleep_for(100ms);
  }
  return status;
}

// The AORs the file holds, read once homesipd has stopped.
std::vector<std::string> aors_in(const fs::path& file) {
  sqlite3* db = nullptr;
  std::vector<std::string> aors;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT aor FROM bindings ORDER BY aor", -1, &stmt, nullptr);
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW)
      aors.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return aors;
}

bool holds(const std::vector<std::string>& aors, const std::string& user) {
  return std::find(aors.begin(), aors.end(), user + "@C1.D1.H1") != aors.end();
}

// Root ignores file modes, so chmod 0444 cannot make the file unwritable for
// a homesipd run by root; the immutable flag (chattr +i) can: opening it for
// writing fails with EPERM even for root, and SQLite silently falls back to
// read-only exactly as for an unprivileged homesipd on a 0444 file. Without
// root, chmod does the same. False when the file system does not allow it.
bool make_writable(const fs::path& file, bool writable) {
  if (geteuid() != 0) return chmod(file.c_str(), writable ? 0644 : 0444) == 0;
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool done = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = writable ? flags & ~FS_IMMUTABLE_FL : flags | FS_IMMUTABLE_FL;
  done = done && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  close(fd);
  return done;
}

}  // namespace

TEST(StoreTruthTest, DeletedDirectoryGets503NeverA200AndRecoversWithoutRestart) {
  TempDir dir;
  const fs::path store_dir = dir / "store";
  const fs::path file = store_dir / "location.sqlite";
  fs::create_directory(store_dir);
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", store_plugins(file), ""});
  server.start();

  constexpr int kRegisters = 200;
  constexpr int kDeleteAt = 100;
  std::vector<std::string> answered_200_after_deletion;
  int retry_after_missing = 0;
  for (int i = 0; i < kRegisters; ++i) {
    if (i == kDeleteAt) fs::remove_all(store_dir);
    const std::string user = "truth" + std::to_string(i);
    const std::string response = udp_exchange(server.port(), register_of(user));
    const int status = status_of(response);
    if (i < kDeleteAt) {
      ASSERT_EQ(status, 200) << response;
    } else {
      if (status == 200) answered_200_after_deletion.push_back(user);
      EXPECT_EQ(status, 503) << response;
      if (response.find("Retry-After:") == std::string::npos) ++retry_after_missing;
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(answered_200_after_deletion.empty())
      << answered_200_after_deletion.size() << " REGISTERs got 200 after the file was gone";
  EXPECT_EQ(retry_after_missing, 0);
  EXPECT_EQ(log_lines_with(server.log(), {"[error]", "location store"}), 1u) << read_file(server.log());
  EXPECT_EQ(log_lines_with(server.log(), {"[error]", file.string() + " was deleted or replaced"}), 1u);

  fs::create_directory(store_dir);
  EXPECT_EQ(register_until_ok(server.port(), "recovered", 5s), 200) << read_file(server.log());
  EXPECT_EQ(log_lines_with(server.log(), {"writing works again"}), 1u);
  EXPECT_EQ(server.stop(), 0);

  const std::vector<std::string> aors = aors_in(file);
  EXPECT_TRUE(holds(aors, "truth0"));
  EXPECT_TRUE(holds(aors, "truth" + std::to_string(kDeleteAt - 1)));
  EXPECT_FALSE(holds(aors, "truth" + std::to_string(kDeleteAt)));
  EXPECT_TRUE(holds(aors, "recovered"));
}

TEST(StoreTruthTest, UnwritableFileAtStartGets503ThenServesAgainOnceFixed) {
  TempDir dir;
  const fs::path file = dir / "location.sqlite";
  HomesipServer first(dir, ServerOptions{"H1", "C1.D1", store_plugins(file), ""});
  first.start();
  ASSERT_EQ(status_of(udp_exchange(first.port(), register_of("early"))), 200);
  ASSERT_EQ(first.stop(), 0);
  if (!make_writable(file, false)) GTEST_SKIP() << "cannot make " << file << " unwritable here";

  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", store_plugins(file), ""});
  try {
    server.start();
  } catch (...) {
    make_writable(file, true);
    throw;
  }
  const std::string refused = udp_exchange(server.port(), register_of("late"));
  EXPECT_EQ(status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After:"), std::string::npos) << refused;
  EXPECT_EQ(status_of(udp_exchange(server.port(), register_of("late"))), 503);
  EXPECT_EQ(log_lines_with(server.log(), {"[error]", "read-only"}), 1u) << read_file(server.log());

  ASSERT_TRUE(make_writable(file, true));
  EXPECT_EQ(register_until_ok(server.port(), "late", 5s), 200) << read_file(server.log());
  EXPECT_EQ(log_lines_with(server.log(), {"writing works again"}), 1u);
  EXPECT_EQ(server.stop(), 0);

  const std::vector<std::string> aors = aors_in(file);
  EXPECT_TRUE(holds(aors, "early"));
  EXPECT_TRUE(holds(aors, "late"));
}
