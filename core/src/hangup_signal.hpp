// SIGHUP handled on the event loop, never in signal context: the handler only
// writes a byte to a pipe the loop watches; the loop then runs `on_hangup`
// (reopen the log file). Without this, SIGHUP's default action killed the
// server without unregistering from its parent.
#pragma once

#include <functional>

namespace homesip::core {

class SofiaEventLoop;

class HangupSignal {
 public:
  // Installs the handler; `on_hangup` runs on `loop`'s thread, once per
  // SIGHUP noticed (signals that arrive together may be noticed as one).
  HangupSignal(SofiaEventLoop& loop, std::function<void()> on_hangup);
  // Ignores SIGHUP from then on: the server is stopping (before the loop goes).
  ~HangupSignal();
  HangupSignal(const HangupSignal&) = delete;
  HangupSignal& operator=(const HangupSignal&) = delete;

 private:
  static int on_readable(void* root_magic, void* wait, void* self);

  SofiaEventLoop& loop_;
  std::function<void()> on_hangup_;
  int registration_ = -1;
};

}  // namespace homesip::core
