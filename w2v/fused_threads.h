// The fused engine's threads: a pool kept alive between steps and a barrier for one job's phases.
#ifndef W2V_FUSED_THREADS_H_
#define W2V_FUSED_THREADS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace w2v {

// A barrier for the threads of one job: it spins a while, then sleeps on a futex. Waking a sleeper takes
// tens of microseconds on a virtual machine, longer than most waits at a barrier: spinning up to 5000 times
// (about 100 us) rather than 100 made the deterministic mode 12% faster (the engine alone, alternated with
// the old build on the same batches in one process). Spinning yields the core every 256 rounds, for a
// machine whose cores are shared with the input pipeline: a waiting thread that only spun would keep its
// core while the thread it waits for sits preempted behind the pipeline on the other one.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void Wait() {
    const int generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      Wake();
      return;
    }
    for (int spin = 0; generation_.load(std::memory_order_acquire) == generation; ++spin) {
      if (spin < kSpins) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if (spin % 256 == 255) std::this_thread::yield();
      } else {
        Sleep(generation);
      }
    }
  }

 private:
#ifdef __linux__
  void Sleep(int generation) {
    syscall(SYS_futex, reinterpret_cast<int*>(&generation_), FUTEX_WAIT_PRIVATE, generation, nullptr, nullptr, 0);
  }
  void Wake() {
    syscall(SYS_futex, reinterpret_cast<int*>(&generation_), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
  }
#else
  void Sleep(int) { std::this_thread::yield(); }
  void Wake() {}
#endif
  static constexpr int kSpins = 5000;
  const int n_;
  std::atomic<int> arrived_{0};
  std::atomic<int> generation_{0};
  static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex word is the atomic's int");
};

// Threads kept alive between steps: starting them every step costs as much as a small batch's work.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { Serve(t); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs job(t) on every thread t (the caller is thread 0) and returns when all are done.
  void Run(const std::function<void(int)>& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    job(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void Serve(int t) {
    int64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)(t);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int pending_ = 0;
  int64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace w2v

#endif  // W2V_FUSED_THREADS_H_
