#include "event_loop.hpp"

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <stdexcept>

namespace homesip::core {
namespace {

class SofiaTimer final : public Timer {
 public:
  SofiaTimer(su_root_t* root, const std::function<void()>& after, std::chrono::milliseconds interval,
             bool repeat, std::function<void()> tick)
      : after_(after), tick_(std::move(tick)) {
    timer_ = su_timer_create(su_root_task(root), static_cast<su_duration_t>(interval.count()));
    if (!timer_) throw std::runtime_error("su_timer_create failed");
    const int rc =
        repeat ? su_timer_set_for_ever(timer_, &SofiaTimer::fire, reinterpret_cast<su_timer_arg_t*>(this))
               : su_timer_set(timer_, &SofiaTimer::fire, reinterpret_cast<su_timer_arg_t*>(this));
    if (rc != 0) {
      su_timer_destroy(timer_);
      throw std::runtime_error("su_timer_set failed");
    }
  }
  ~SofiaTimer() override { su_timer_destroy(timer_); }

 private:
  static void fire(su_root_magic_t*, su_timer_t*, su_timer_arg_t* arg) {
    auto* self = reinterpret_cast<SofiaTimer*>(arg);
    const std::function<void()>& after = self->after_;  // the tick may destroy the timer
    self->tick_();
    // Timers run after su_root's prepoll hook: what a tick queued goes now.
    if (after) after();
  }
  const std::function<void()>& after_;
  su_timer_t* timer_ = nullptr;
  std::function<void()> tick_;
};

// A loop's thread is the one that created it; a thread has at most one.
thread_local SofiaEventLoop* t_current = nullptr;

}  // namespace

SofiaEventLoop* SofiaEventLoop::current() { return t_current; }

SofiaEventLoop::SofiaEventLoop() : owner_(std::this_thread::get_id()) {
  root_ = su_root_create(nullptr);
  if (!root_) throw std::runtime_error("su_root_create failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  su_wait_t wait[1];
  su_wait_create(wait, wake_fd_, SU_WAIT_IN);
  if (su_root_register(root_, wait, reinterpret_cast<su_wakeup_f>(&SofiaEventLoop::on_wakeup),
                       reinterpret_cast<su_wakeup_arg_t*>(this), 0) < 0)
    throw std::runtime_error("su_root_register failed");
  t_current = this;
}

SofiaEventLoop::~SofiaEventLoop() {
  if (t_current == this) t_current = nullptr;
  close();  // run what is queued: tasks may own replies that must be sent or freed
  su_root_destroy(root_);
  ::close(wake_fd_);
}

void SofiaEventLoop::close() {
  {
    // Under the lock post() checks it with: no task slips in after the drain.
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  drain();
}

void SofiaEventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    tasks_.push_back(std::move(task));
    // Not the first task since the last drain: its poster has woken the loop,
    // which takes the whole queue.
    if (tasks_.size() > 1) return;
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

int SofiaEventLoop::on_wakeup(void*, void*, void* arg) {
  // The loop comes as the registration's argument; the root's magic is unused.
  auto* loop = static_cast<SofiaEventLoop*>(arg);
  uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(loop->wake_fd_, &count, sizeof count);
  if (loop->stopping_) su_root_break(loop->root_);
  loop->drain();
  if (loop->before_wait_) loop->before_wait_();
  return 0;
}

void SofiaEventLoop::on_prepoll(void* loop, su_root_s*) {
  auto* self = static_cast<SofiaEventLoop*>(loop);
  if (self->before_wait_) self->before_wait_();
}

void SofiaEventLoop::set_before_wait(std::function<void()> hook) {
  before_wait_ = std::move(hook);
  su_root_remove_prepoll(root_);
  if (before_wait_)
    su_root_add_prepoll(root_, reinterpret_cast<su_prepoll_f*>(&SofiaEventLoop::on_prepoll),
                        reinterpret_cast<su_prepoll_magic_t*>(this));
}

void SofiaEventLoop::drain() {
  // A local batch, so a task may post or even drain again.
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(tasks_);
  }
  for (auto& task : batch) task();
  batch.clear();
  // Hand the storage back: the queue then grows without allocating.
  std::lock_guard lock(mutex_);
  if (tasks_.empty() && tasks_.capacity() < batch.capacity()) tasks_.swap(batch);
}

std::unique_ptr<Timer> SofiaEventLoop::start_timer(std::chrono::milliseconds interval, bool repeat,
                                                   std::function<void()> tick) {
  if (interval.count() <= 0) interval = std::chrono::milliseconds(1);
  return std::make_unique<SofiaTimer>(root_, before_wait_, interval, repeat, std::move(tick));
}

void SofiaEventLoop::run() {
  stopping_ = false;
  su_root_run(root_);
}

void SofiaEventLoop::stop() {
  // Only an atomic store and write(2): safe in a signal handler.
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

bool SofiaEventLoop::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    su_root_step(root_, 10);
  }
  return true;
}

}  // namespace homesip::core
