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

// Every admin command by name: the one list the admin socket and the HTTP
// listener's /api/ both run from. Loop thread only.
class CommandRegistry {
 public:
  using Respond = std::function<void(nlohmann::json result)>;
  // Throws std::invalid_argument for bad arguments (answered as an error).
  using Command = std::function<void(const nlohmann::json& args, Respond respond)>;
  enum class Outcome {
    kDone,     // the value is the command's result
    kFailed,   // the command answered {"error": ...}: the value is that text
    kRefused,  // bad arguments (it threw): the value says why
    kUnknown,  // no command of that name
  };
  using Answer = std::function<void(Outcome outcome, nlohmann::json value)>;

  CommandRegistry();  // with "help"
  void add(const std::string& name, const std::string& help, Command command);
  bool contains(const std::string& name) const { return commands_.count(name) != 0; }
  // {"name": "help", ...} for every command.
  nlohmann::json help() const;
  // Runs `name` with `args`; `answer` gets its outcome, now or later.
  void run(const std::string& name, const nlohmann::json& args, const Answer& answer) const;

 private:
  struct Entry {
    std::string help;
    Command command;
  };
  std::map<std::string, Entry> commands_;
};

class AdminSocket {
 public:
  using Respond = CommandRegistry::Respond;
  using Command = CommandRegistry::Command;

  // Binds `path` (a stale socket file left by a dead server is replaced; a
  // live one is an error), answering from `commands`. Throws
  // std::runtime_error naming the path.
  AdminSocket(SofiaEventLoop& loop, std::string path, const CommandRegistry& commands,
              std::shared_ptr<spdlog::logger> log);
  ~AdminSocket();  // closes every connection and removes the socket file
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

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
  const CommandRegistry& commands_;
  std::map<int, std::shared_ptr<AdminConnection>> connections_;
};

}  // namespace homesip::core
