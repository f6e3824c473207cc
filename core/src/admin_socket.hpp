// Where an operator (homesipctl) asks a running server things: a local Unix
// stream socket, owner-only (0600). One JSON request per line,
// {"command": "bindings", "args": {...}}, gets one JSON answer per line,
// {"ok": true, "result": ...} or {"ok": false, "error": "..."}; several
// requests may follow on one connection. Served on the loop thread; a command
// may answer later (a store lookup), through its Respond.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace homesip::core {

class SofiaEventLoop;
class AdminConnection;

class AdminSocket {
 public:
  using Respond = std::function<void(nlohmann::json result)>;
  // Throws std::invalid_argument for bad arguments (answered as an error).
  using Command = std::function<void(const nlohmann::json& args, Respond respond)>;

  // Binds `path` (a stale socket file left by a dead server is replaced; a
  // live one is an error). Throws std::runtime_error naming the path.
  AdminSocket(SofiaEventLoop& loop, std::string path, std::shared_ptr<spdlog::logger> log);
  ~AdminSocket();  // closes every connection and removes the socket file
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

  void add(const std::string& name, const std::string& help, Command command);
  const std::string& path() const { return path_; }

 private:
  friend class AdminConnection;
  static int on_acceptable(void* magic, void* wait, void* self);
  void accept_connections();
  void run(const std::string& line, const std::function<void(const nlohmann::json&)>& answer);

  SofiaEventLoop& loop_;
  std::string path_;
  std::shared_ptr<spdlog::logger> log_;
  int fd_ = -1;
  int registration_ = -1;
  struct Entry {
    std::string help;
    Command command;
  };
  std::map<std::string, Entry> commands_;
  std::map<int, std::shared_ptr<AdminConnection>> connections_;
};

}  // namespace homesip::core
