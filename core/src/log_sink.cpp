#include "log_sink.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace homesip::core {
namespace {

std::FILE* open_for_append(const std::string& path, std::string& why) {
  std::FILE* file = std::fopen(path.c_str(), "ae");  // e: not inherited by children
  if (!file) {
    why = path + ": " + std::strerror(errno);
    return nullptr;
  }
  // Line-buffered, as stderr writes: `tail -f` and fail2ban see each line at once.
  std::setvbuf(file, nullptr, _IOLBF, 0);
  return file;
}

// "2026-11-30T03:04:05.678Z"
std::string iso8601_utc(spdlog::log_clock::time_point when) {
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(millis));
  return text;
}

}  // namespace

ReopenableFileSink::ReopenableFileSink(std::string path) : path_(std::move(path)) {
  std::string why;
  file_ = open_for_append(path_, why);
  if (!file_) throw std::runtime_error("cannot open the log file " + why);
}

ReopenableFileSink::~ReopenableFileSink() {
  if (file_) std::fclose(file_);
}

std::string ReopenableFileSink::reopen() {
  std::lock_guard lock(mutex_);
  std::string why;
  std::FILE* fresh = open_for_append(path_, why);
  if (!fresh) return why;
  std::fflush(file_);
  std::fclose(file_);
  file_ = fresh;
  return {};
}

void ReopenableFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  std::fwrite(line.data(), 1, line.size(), file_);
}

void ReopenableFileSink::flush_() { std::fflush(file_); }

void JsonLineFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  nlohmann::ordered_json line;
  line["time"] = iso8601_utc(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  line["level"] = std::string(level.data(), level.size());
  line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  line["message"] = std::string(msg.payload.data(), msg.payload.size());
  // replace: a message with invalid UTF-8 (a sender's bytes) still makes a valid line.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLineFormatter::clone() const {
  return std::make_unique<JsonLineFormatter>();
}

std::shared_ptr<spdlog::logger> make_core_logger(const LogConfig& config,
                                                 std::shared_ptr<ReopenableFileSink>& file_sink) {
  const bool json = config.format == "json";
  spdlog::sink_ptr sink;
  if (config.sink != "stderr") {
    file_sink = std::make_shared<ReopenableFileSink>(config.sink);
    sink = file_sink;
  } else if (json) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();  // no colour codes inside JSON
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  auto log = std::make_shared<spdlog::logger>("homesipd", sink);
  if (json) log->set_formatter(std::make_unique<JsonLineFormatter>());
  log->set_level(spdlog::level::from_str(config.level));
  log->flush_on(spdlog::level::warn);
  return log;
}

}  // namespace homesip::core
