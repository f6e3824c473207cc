#include "loop_thread.hpp"

#include <pthread.h>

#include <future>
#include <memory>
#include <utility>

namespace homesip::core {

LoopThread::LoopThread() : thread_([this] { body(); }) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return loop_ != nullptr || start_error_; });
  if (!loop_) {  // no root or no eventfd (descriptors exhausted): the thread has ended
    lock.unlock();
    thread_.join();
    std::rethrow_exception(start_error_);
  }
}

LoopThread::~LoopThread() {
  stop();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void LoopThread::body() {
  // For top -H and perf: the main thread keeps the program's name.
  pthread_setname_np(pthread_self(), "homesipd-loop");
  try {
    auto loop = std::make_unique<SofiaEventLoop>();
    std::lock_guard lock(mutex_);
    loop_ = std::move(loop);
  } catch (...) {
    std::lock_guard lock(mutex_);
    start_error_ = std::current_exception();
  }
  changed_.notify_all();
  if (!loop_) return;
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return call_ || go_ || quit_; });
    if (call_) {
      PendingCall* call = std::exchange(call_, nullptr);
      std::exception_ptr error;
      lock.unlock();
      try {
        (*call->job)();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      call->error = error;
      call->done = true;
      changed_.notify_all();
    } else if (go_) {
      go_ = false;
      lock.unlock();
      loop_->run();
      lock.lock();
      running_ = false;
      changed_.notify_all();
    } else {
      break;
    }
  }
  lock.unlock();
  loop_.reset();
}

void LoopThread::call(const std::function<void()>& job) {
  std::unique_lock lock(mutex_);
  // One caller's job at a time; a loop that began turning meanwhile takes it as a task.
  changed_.wait(lock, [this] { return call_ == nullptr || running_; });
  if (running_) {
    lock.unlock();
    // The task owns the promise: if the loop is closed before it runs (a
    // stop between the check above and the post), dropping the task breaks
    // the promise and get() throws std::future_error instead of waiting forever.
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> outcome = done->get_future();
    loop_->post([done, &job] {
      try {
        job();
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
    outcome.get();
    return;
  }
  PendingCall mine{&job, nullptr};
  call_ = &mine;
  changed_.notify_all();
  changed_.wait(lock, [&mine] { return mine.done; });
  if (mine.error) std::rethrow_exception(mine.error);
}

void LoopThread::run() {
  {
    std::lock_guard lock(mutex_);
    if (running_) return;
    running_ = go_ = true;
  }
  changed_.notify_all();
}

void LoopThread::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
  }
  // From inside the loop: a stop() before its run() began would be lost.
  loop_->post([loop = loop_.get()] { loop->stop(); });
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !running_; });
}

}  // namespace homesip::core
