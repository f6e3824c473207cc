// Real SIP phones for the tests: baresip and linphonec, headless, each in a
// directory of its own, registered at a family server that is also their
// outbound proxy (docs/phones.md). Both are driven by commands on stdin and
// read back through what they print (the strings below were checked against
// baresip 1.0.0 and linphonec 5.1.65 on Debian 12).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace homesip::test {

// A child process with a pipe to its stdin and its stdout and stderr in a
// file. Stopped by its PID only: SIGKILL on destruction if still running.
class PipedProcess {
 public:
  PipedProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment,
               const std::filesystem::path& log_file);
  ~PipedProcess();
  PipedProcess(const PipedProcess&) = delete;
  PipedProcess& operator=(const PipedProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Writes `line` and a newline to the process's stdin (ignored once it has gone).
  void send_line(const std::string& line);
  bool running();
  // Waits for the exit; true when it exited within `timeout`.
  bool wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL when it is still there after `grace`.
  void stop(std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  bool exited_ = false;
};

// What a test needs of a phone, whichever program it is.
struct PhoneSetup {
  std::string user;                 // "U1"
  std::string domain;               // "C1.D1.H1"
  uint16_t family_port;             // the family server on 127.0.0.1: registrar and outbound proxy
  std::filesystem::path directory;  // the phone's own (config, log, HOME)
  // The user's password at its family server (auth-digest); empty: none set.
  // Also used for the family server's 407 to the phone's calls.
  std::string password;
  // TLS to the family server: its tls: listener on 127.0.0.1, and the CA
  // file the phone checks the server's certificate against (baresip 1.0.0
  // loads it but does not check; linphonec checks the chain and the name, so
  // it reaches the server as "localhost", a name its certificate must carry).
  // 0: UDP to family_port.
  uint16_t family_tls_port = 0;
  std::filesystem::path ca_file;
};

class Phone {
 public:
  explicit Phone(PhoneSetup setup) : setup_(std::move(setup)) {}
  virtual ~Phone() = default;
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;

  std::string aor() const { return setup_.user + "@" + setup_.domain; }
  uint16_t family_port() const { return setup_.family_port; }
  virtual std::string program() const = 0;  // "baresip", "linphonec"
  virtual void start() = 0;
  virtual void dial(const std::string& uri) = 0;
  virtual void hang_up() = 0;
  // Leaves in order (unregisters), then SIGTERM/SIGKILL by PID if it lingers.
  virtual void quit() = 0;

  // Read from what the phone printed so far.
  virtual bool registered() const = 0;
  virtual bool established() const = 0;  // a call is up (connected, media flowing)
  virtual bool ended() const = 0;        // the call ended with a BYE (either side)
  virtual bool failed() const = 0;       // the call ended with an error status
  // The registrar refused the registration (a 401 to the answered challenge, 403).
  virtual bool registration_refused() const = 0;
  // The SIP messages the phone sent and received, as it printed or logged them.
  virtual std::string sip_trace() const = 0;
  std::string output() const;  // everything printed, for failure messages

 protected:
  std::filesystem::path log_file() const { return setup_.directory / "output.log"; }
  bool printed(const std::string& text) const;

  PhoneSetup setup_;
};

class Baresip : public Phone {
 public:
  using Phone::Phone;
  ~Baresip() override;
  std::string program() const override { return "baresip"; }
  void start() override;
  void dial(const std::string& uri) override;
  void hang_up() override;
  void quit() override;
  bool registered() const override;
  bool established() const override;
  bool ended() const override;
  bool failed() const override;
  bool registration_refused() const override;
  std::string sip_trace() const override { return output(); }

 private:
  std::unique_ptr<PipedProcess> process_;
};

class Linphone : public Phone {
 public:
  using Phone::Phone;
  ~Linphone() override;
  std::string program() const override { return "linphonec"; }
  void start() override;
  void dial(const std::string& uri) override;
  void hang_up() override;
  void quit() override;
  bool registered() const override;
  bool established() const override;
  bool ended() const override;
  bool failed() const override;
  bool registration_refused() const override;
  std::string sip_trace() const override;

 private:
  std::unique_ptr<PipedProcess> process_;
};

// True when `program` is on the PATH.
bool installed(const std::string& program);

}  // namespace homesip::test
