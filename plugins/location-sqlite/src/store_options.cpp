#include "store_options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>

namespace homesip::location_sqlite {
namespace {

SynchronousMode synchronous_mode(const Settings& settings) {
  std::string mode = settings.get_string("synchronous");
  std::transform(mode.begin(), mode.end(), mode.begin(), [](unsigned char c) { return std::tolower(c); });
  if (mode == "full") return SynchronousMode::kFull;
  if (mode == "normal") return SynchronousMode::kNormal;
  throw ConfigError("synchronous", "synchronous must be full or normal, not '" + mode + "'");
}

// SQLite creates the file and its -wal and -shm beside it: the directory must
// exist and take new files, and an existing path must be a file.
std::string database_path(const Settings& settings) {
  std::string path = settings.get_string("path");
  if (path.empty()) throw ConfigError("path", "path must name the SQLite file for the bindings");
  const std::filesystem::path file(path);
  const std::string directory = file.has_parent_path() ? file.parent_path().string() : ".";
  if (::access(directory.c_str(), W_OK | X_OK) != 0)
    throw ConfigError("path", "path " + path + ": its directory " + directory +
                                  " does not take new files: " + std::strerror(errno));
  std::error_code error;
  const auto status = std::filesystem::status(file, error);
  if (std::filesystem::exists(status)) {
    // A file this process cannot write now is an outage, not a config error: the
    // store answers 503 and recovers once it is fixed (store_truth_test), like a
    // database that went away.
    if (!std::filesystem::is_regular_file(status))
      throw ConfigError("path", "path " + path + " is not a file");
  }
  return path;
}

}  // namespace

LocationSqliteSettings read_settings(const Settings& settings) {
  constexpr int64_t kSecondsPerDay = 86400;
  constexpr int64_t kMaxCommitWindowUs = 100'000;
  LocationSqliteSettings read;
  read.path = database_path(settings);
  read.options.synchronous = synchronous_mode(settings);
  // SQLite takes the busy timeout as an int of milliseconds.
  read.options.busy_timeout = std::chrono::milliseconds(
      integer_in_range(settings, "busy_timeout_ms", 0, std::numeric_limits<int>::max()));
  read.options.sweep_interval =
      std::chrono::seconds(integer_in_range(settings, "sweep_interval_s", 1, kSecondsPerDay));
  read.options.max_batch = static_cast<size_t>(integer_in_range(settings, "max_batch", 1, 1'000'000));
  // Below 10 ms the retries would be busy-waiting on a file that is gone.
  read.options.retry_interval =
      std::chrono::milliseconds(integer_in_range(settings, "retry_interval_ms", 10, kSecondsPerDay * 1000));
  // The window delays every 200 OK it groups: beyond 100 ms it would eat into
  // SIP's 500 ms retransmission timer for no further gain.
  read.options.commit_window =
      std::chrono::microseconds(integer_in_range(settings, "commit_window_us", 0, kMaxCommitWindowUs));
  // Past max_batch it would never be reached: a batch ends there anyway.
  read.options.commit_batch = std::min(
      static_cast<size_t>(integer_in_range(settings, "commit_batch", 1, 1'000'000)), read.options.max_batch);
  return read;
}

}  // namespace homesip::location_sqlite
