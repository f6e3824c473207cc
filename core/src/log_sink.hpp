// Where homesipd's log lines go: stderr or a file that SIGHUP reopens
// (logrotate renames the file, then signals), in text or one JSON object per
// line. The core's logger and every plugin's logger (its clones) share the
// one sink, so one reopen moves them all.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "config.hpp"

namespace homesip::core {

// A file sink that can reopen its path under its own lock: lines written
// before the reopen stay in the renamed file, later ones go to a new file at
// the old path. A reopen that fails keeps writing to the old file.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(std::string path);  // throws std::runtime_error when it cannot open
  ~ReopenableFileSink() override;
  ReopenableFileSink(const ReopenableFileSink&) = delete;
  ReopenableFileSink& operator=(const ReopenableFileSink&) = delete;

  // "" on success, else why the path could not be opened (the old file stays).
  std::string reopen();
  const std::string& path() const { return path_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// One JSON object per line: {"time": "2026-11-30T03:04:05.678Z", "level":
// "info", "logger": "homesipd" or the plugin's name, "message": "..."}. Valid
// JSON whatever the message holds (invalid UTF-8 becomes U+FFFD).
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// The core's logger as `config` says ("homesipd"); plugins get its clones.
// `file_sink` is set when the log goes to a file (for SIGHUP's reopen).
std::shared_ptr<spdlog::logger> make_core_logger(const LogConfig& config,
                                                 std::shared_ptr<ReopenableFileSink>& file_sink);

}  // namespace homesip::core
