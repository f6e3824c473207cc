#include "hangup_signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "event_loop.hpp"

namespace homesip::core {
namespace {

// The pipe outlives any handler call: set before the handler is installed,
// closed only after the default action is back.
int g_pipe[2] = {-1, -1};

void on_sighup(int) {
  const int saved = errno;  // a handler must leave errno as it found it
  const char byte = 1;
  [[maybe_unused]] auto n = ::write(g_pipe[1], &byte, 1);  // full pipe: a wakeup is pending anyway
  errno = saved;
}

}  // namespace

HangupSignal::HangupSignal(SofiaEventLoop& loop, std::function<void()> on_hangup)
    : loop_(loop), on_hangup_(std::move(on_hangup)) {
  if (g_pipe[0] >= 0) throw std::logic_error("one HangupSignal at a time");
  if (::pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  su_wait_t wait[1];
  su_wait_create(wait, g_pipe[0], SU_WAIT_IN);
  registration_ =
      su_root_register(loop_.root(), wait, reinterpret_cast<su_wakeup_f>(&HangupSignal::on_readable),
                       reinterpret_cast<su_wakeup_arg_t*>(this), 0);
  if (registration_ < 0) throw std::runtime_error("su_root_register failed");
  struct sigaction sa {};
  sa.sa_handler = on_sighup;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, nullptr);
}

HangupSignal::~HangupSignal() {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;  // shutting down: a late SIGHUP must not kill it before the goodbye
  sigaction(SIGHUP, &sa, nullptr);
  su_root_deregister(loop_.root(), registration_);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

int HangupSignal::on_readable(void*, void*, void* arg) {
  auto* self = static_cast<HangupSignal*>(arg);
  char bytes[64];
  bool any = false;
  while (::read(g_pipe[0], bytes, sizeof bytes) > 0) any = true;
  if (any) self->on_hangup_();
  return 0;
}

}  // namespace homesip::core
