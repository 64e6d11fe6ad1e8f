// The fused CPU engine: word2vec's SGD as one TensorFlow op, for skip-gram and CBOW with the `neg` and
// `nce` losses.
//
// TensorFlow's own ops make a step of gathers, a batched product and scatters, and the scatters alone
// cost about 0.5 us a row on a CPU. This op updates the rows in place with plain SGD, as word2vec.c and
// gensim do, a *window* at a time (HogBatch, Ji et al. 2016): all the pairs of one centre word share one
// draw of negatives, so the window is a small dense block -- its context rows against the centre word's
// output row and the negatives' -- loaded once, scored with one small matrix product, and updated with
// two more. The roles are word2vec.c's: context rows are the inputs, the centre word is the target.
// CBOW's window is one example: the mean of its context rows against the centre word and its own
// negatives, and each context row takes the whole input gradient (word2vec.c and gensim's cbow_mean).
//
// Negatives are drawn here, by the alias method from the noise distribution's table, with a
// counter-based hash of (seed, step, first example of the window): no random state outside the
// checkpointed step, so a resumed run draws the same.
//
// Threads, kept alive between steps, share a batch in one of two ways:
//  - deterministic: windows are taken in groups of `group`; the threads compute every window of a
//    group against the tables as they stand at the group's start, then apply the updates, each row by
//    one thread in window order. The result is a function of the batch alone: bit-identical whatever
//    the number of threads, run to run and across resumes.
//  - hogwild: the batch is cut into one contiguous part a thread, each updating the shared tables
//    window by window without locks, as word2vec.c does. Faster, but the result depends on timing.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::Var;

REGISTER_OP("W2vTrain")
    .Input("embedding: resource")
    .Input("weights: resource")
    .Input("biases: resource")
    .Input("rows: int32")
    .Input("mask: float")
    .Input("targets: int32")
    .Input("windows: int64")
    .Input("accept: float")
    .Input("alias: int32")
    .Input("correction: float")
    .Input("key: int64")
    .Input("learning_rate: float")
    .Attr("negatives: int >= 0")
    .Attr("threads: int >= 1 = 1")
    .Attr("hogwild: bool = false")
    .Attr("group: int >= 1 = 32")
    .Output("loss: float")
    .SetIsStateful()
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(c->Dim(c->input(5), 0)));
      return absl::OkStatus();
    })
    .Doc(R"doc(
word2vec SGD on a batch, a window at a time; returns each example's loss.

rows: skip-gram: [B] context ids (one pair an example); CBOW: [B, C] context ids, with mask [B, C] > 0
  marking the real ones (mask is [0] for skip-gram).
targets: [B] centre ids.
windows: skip-gram: [B], consecutive examples with equal values form one window (the stream position of
  their centre word); unused for CBOW.
correction: nce: [V] log(k q(w)), subtracted from every logit; neg: [0].
)doc");

uint64_t SplitMix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Draw n of a step's stream: one 64-bit hash gives the alias column (high half, by multiply-shift)
// and the uniform that chooses between the column and its alias (low half).
int32_t Noise(uint64_t stream, uint64_t n, const float* accept, const int32_t* alias, uint64_t rows) {
  const uint64_t h = SplitMix64(stream + n * 0x9e3779b97f4a7c15ULL);
  const auto column = static_cast<int32_t>(((h >> 32) * rows) >> 32);
  return static_cast<double>(h & 0xffffffffULL) * 0x1p-32 < accept[column] ? column : alias[column];
}

// gensim's rule: a score beyond +-kMaxScore moves nothing. Right that far, the gradient is nil anyway;
// wrong that far, the pair is more likely noise than signal. Its loss still counts.
constexpr float kMaxScore = 6.0f;

// A barrier for the threads of one job: it spins briefly, then sleeps on a futex. Sleeping matters on
// a machine whose cores are shared with the input pipeline: a waiting thread that spins keeps its core
// busy while the thread it waits for sits preempted behind the pipeline on the other core, whereas a
// core gone idle pulls that thread over at once.
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
      if (spin < 100) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
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
  const int n_;
  std::atomic<int> arrived_{0};
  std::atomic<int> generation_{0};
  static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex word is the atomic's int");
};

// Threads kept alive between steps: starting them every step cost more than a small batch's work.
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

struct Window {
  int64_t first;  // its first example
  int32_t count;  // skip-gram: its examples (pairs); CBOW: 1
};

// Everything a step reads, and the tables it writes.
struct Step {
  float* emb;
  float* out;
  float* bias;              // nce only
  const float* correction;  // nce only: log(k q(w))
  int64_t dim, vocab, k;
  int64_t context;  // CBOW's slots per example; 0 for skip-gram
  const int32_t* rows;
  const float* mask;
  const int32_t* targets;
  const float* accept;
  const int32_t* alias;
  uint64_t stream;
  float lr;
  float* loss;
  bool nce() const { return correction != nullptr; }
};

// A dot product in a fixed order: lane i of 16 sums the elements i mod 16, then the lanes are added as
// a tree. The loop vectorises without licence to reorder, and a horizontal sum left to the compiler
// was a chain of 16 scalar additions, a fifth of the step.
inline float Dot(const float* a, const float* b, int64_t n) {
  float lane[16] = {};
  int64_t d = 0;
  for (; d + 16 <= n; d += 16) {
    for (int i = 0; i < 16; ++i) lane[i] += a[d + i] * b[d + i];
  }
  for (int width = 8; width >= 1; width /= 2) {
    for (int i = 0; i < width; ++i) lane[i] += lane[i + width];
  }
  float f = lane[0];
  for (; d < n; ++d) f += a[d] * b[d];
  return f;
}

inline void Prefetch(const float* from, int64_t n) {
  const char* p = reinterpret_cast<const char*>(from);
  for (int64_t off = 0; off < n * static_cast<int64_t>(sizeof(float)); off += 64) __builtin_prefetch(p + off, 1);
}

// The window's output rows: its centre word, then its negatives; a negative equal to the centre word
// teaches nothing and is dropped, a repeated one counts twice. Returns how many are distinct.
int32_t Outputs(const Step& s, const Window& w, int32_t* ids, int32_t* counts) {
  const int32_t target = s.targets[w.first];
  ids[0] = target;
  counts[0] = 1;
  int32_t n = 1;
  for (int64_t j = 0; j < s.k; ++j) {
    const int32_t drawn =
        Noise(s.stream, static_cast<uint64_t>(w.first * s.k + j), s.accept, s.alias, static_cast<uint64_t>(s.vocab));
    if (drawn == target) continue;
    int32_t i = 1;
    while (i < n && ids[i] != drawn) ++i;
    if (i == n) {
      ids[n] = drawn;
      counts[n++] = 1;
    } else {
      ++counts[i];
    }
  }
  return n;
}

// Calls f(row) for each input row of the window's hidden vector h: skip-gram's own row, or every real
// context row of a CBOW example (each takes the whole gradient, as in word2vec.c).
template <typename F>
void ForInputs(const Step& s, const Window& w, int32_t h, F&& f) {
  if (s.context == 0) {
    f(s.rows[w.first + h]);
    return;
  }
  for (int64_t c = 0; c < s.context; ++c) {
    if (s.mask[w.first * s.context + c] > 0) f(s.rows[w.first * s.context + c]);
  }
}

// Ask for a window's rows before they are needed: the tables are far larger than the caches, so the
// loop waits on memory more than it computes.
void Prefetch(const Step& s, const Window& w, const int32_t* ids, int32_t n_out) {
  for (int32_t o = 0; o < n_out; ++o) Prefetch(s.out + static_cast<int64_t>(ids[o]) * s.dim, s.dim);
  for (int32_t h = 0; h < (s.context ? 1 : w.count); ++h) {
    ForInputs(s, w, h, [&](int32_t id) { Prefetch(s.emb + static_cast<int64_t>(id) * s.dim, s.dim); });
  }
}

// The window's hidden vectors: skip-gram's context rows, or CBOW's mean of its context rows (written to
// `mean`). Returns how many (0: a CBOW example without context).
int32_t Hidden(const Step& s, const Window& w, const float** x, float* mean) {
  if (s.context == 0) {
    for (int32_t h = 0; h < w.count; ++h) x[h] = s.emb + static_cast<int64_t>(s.rows[w.first + h]) * s.dim;
    return w.count;
  }
  std::fill(mean, mean + s.dim, 0.0f);
  int32_t used = 0;
  ForInputs(s, w, 0, [&](int32_t id) {
    const float* row = s.emb + static_cast<int64_t>(id) * s.dim;
#pragma omp simd
    for (int64_t d = 0; d < s.dim; ++d) mean[d] += row[d];
    ++used;
  });
  if (used == 0) return 0;
  const float inv = 1.0f / static_cast<float>(used);
#pragma omp simd
  for (int64_t d = 0; d < s.dim; ++d) mean[d] *= inv;
  x[0] = mean;
  return 1;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void Add(float* row, const float* delta, int64_t dim) {
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d) row[d] += delta[d];
}

// The logits [hidden][outputs] of a window: dot products, plus nce's bias and correction.
__attribute__((target_clones("avx512f", "avx2", "default")))
void Logits(const Step& s, const float* const* x, const int32_t* ids, int32_t hidden, int32_t n_out, float* logits) {
  for (int32_t h = 0; h < hidden; ++h) {
    for (int32_t o = 0; o < n_out; ++o) {
      float f = Dot(x[h], s.out + static_cast<int64_t>(ids[o]) * s.dim, s.dim);
      if (s.nce()) f += s.bias[ids[o]] - s.correction[ids[o]];
      logits[h * n_out + o] = f;
    }
  }
}

// Turns a window's logits [hidden][outputs] into gradients, learning rate and counts included, in
// place; writes each example's loss when `loss` is given.
void Gradients(const Step& s, float* logits, const int32_t* counts, int32_t hidden, int32_t n_out, float* loss) {
  for (int32_t h = 0; h < hidden; ++h) {
    float total = 0.0f;
    for (int32_t o = 0; o < n_out; ++o) {
      float& f = logits[h * n_out + o];
      // One exp and one log give both the sigmoid and the loss: with e = exp(-|f|), sigmoid(f) =
      // 1/(1+e) or e/(1+e), and softplus(+-f) = max(+-f, 0) + log(1+e). (log1p is exact for tiny e,
      // where the loss is below 1e-7 anyway, and glibc's took a quarter of the step.)
      const float e = std::exp(-std::fabs(f));
      const float c = static_cast<float>(counts[o]);
      if (loss) total += c * (std::max(o == 0 ? -f : f, 0.0f) + std::log(1.0f + e));
      float g = 0.0f;
      if (std::fabs(f) < kMaxScore) {
        const float sigmoid = f >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        g = c * ((o == 0 ? 1.0f : 0.0f) - sigmoid) * s.lr;
      }
      f = g;
    }
    if (loss) loss[h] = total;
  }
}

// A window's updates from its gradients, from the rows as they are: dx[h] = sum_o g[h, o] u_o, one row a
// hidden vector, then dy[o] = sum_h g[h, o] x_h, one row an output, in `delta`; db[o] = sum_h g[h, o].
__attribute__((target_clones("avx512f", "avx2", "default")))
void Deltas(const Step& s, const float* const* x, const int32_t* ids, const float* grads, int32_t hidden,
            int32_t n_out, float* delta, float* db) {
  const int64_t dim = s.dim;
  for (int32_t h = 0; h < hidden; ++h) {
    float* dx = delta + h * dim;
    std::fill(dx, dx + dim, 0.0f);
    for (int32_t o = 0; o < n_out; ++o) {
      const float g = grads[h * n_out + o];
      const float* u = s.out + static_cast<int64_t>(ids[o]) * dim;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) dx[d] += g * u[d];
    }
  }
  for (int32_t o = 0; o < n_out; ++o) {
    float* dy = delta + (hidden + o) * dim;
    std::fill(dy, dy + dim, 0.0f);
    db[o] = 0.0f;
    for (int32_t h = 0; h < hidden; ++h) {
      const float g = grads[h * n_out + o];
      db[o] += g;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) dy[d] += g * x[h][d];
    }
  }
}

enum Table { kInput = 0, kOutput = 1 };

// Adds a window's updates to the rows `owns(table, id)` accepts (outputs first, then inputs, in order).
template <typename Owns>
void Apply(const Step& s, const Window& w, const int32_t* ids, const float* delta, const float* db, int32_t hidden,
           int32_t n_out, Owns&& owns) {
  const int64_t dim = s.dim;
  for (int32_t o = 0; o < n_out; ++o) {
    if (!owns(kOutput, ids[o])) continue;
    Add(s.out + static_cast<int64_t>(ids[o]) * dim, delta + (hidden + o) * dim, dim);
    if (s.nce()) s.bias[ids[o]] += db[o];
  }
  for (int32_t h = 0; h < hidden; ++h) {
    ForInputs(s, w, h, [&](int32_t id) {
      if (owns(kInput, id)) Add(s.emb + static_cast<int64_t>(id) * dim, delta + h * dim, dim);
    });
  }
}

// A window drawn, scored and turned into updates, ready to apply.
struct Pending {
  int32_t hidden = 0, outputs = 0;
  std::vector<int32_t> ids;  // output ids, then their counts
  std::vector<float> delta, db;
  void Fit(int64_t widest, int64_t outs, int64_t dim) {
    ids.resize(2 * outs);
    delta.resize((widest + outs) * dim);
    db.resize(outs);
  }
};

// Per-thread memory for scoring a window, reused across windows and steps.
struct Scratch {
  std::vector<const float*> x;
  std::vector<float> mean, logits;
  void Fit(int64_t widest, int64_t outs, int64_t dim) {
    x.resize(widest);
    mean.resize(dim);
    logits.resize(widest * outs);
  }
};

// Draws a window's outputs into `p` and asks for its rows.
void Prepare(const Step& s, const Window& w, Pending& p) {
  p.outputs = Outputs(s, w, p.ids.data(), p.ids.data() + s.k + 1);
  Prefetch(s, w, p.ids.data(), p.outputs);
}

// Scores a prepared window against the tables as they are and leaves its updates in `p`; writes its
// examples' losses.
void Train(const Step& s, const Window& w, Scratch& m, Pending& p) {
  p.hidden = Hidden(s, w, m.x.data(), m.mean.data());
  Logits(s, m.x.data(), p.ids.data(), p.hidden, p.outputs, m.logits.data());
  Gradients(s, m.logits.data(), p.ids.data() + s.k + 1, p.hidden, p.outputs, s.loss + w.first);
  Deltas(s, m.x.data(), p.ids.data(), m.logits.data(), p.hidden, p.outputs, p.delta.data(), p.db.data());
}

// The variable's buffer, made exclusive first: updating in place must not change a tensor that a
// read of the variable still holds.
absl::Status Exclusive(OpKernelContext* ctx, Var* var, float** data) {
  Tensor* t = var->tensor();
  if (t->dtype() != tensorflow::DT_FLOAT) return absl::InvalidArgumentError("fused step: tables must be float32");
  if (!t->RefCountIsOne()) {
    Tensor copy;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy));
    std::memcpy(copy.flat<float>().data(), t->flat<float>().data(), sizeof(float) * t->NumElements());
    *t = copy;
  }
  *data = t->flat<float>().data();
  return absl::OkStatus();
}

absl::Status CheckIds(const Tensor& ids, int64_t rows) {
  const int32_t* p = ids.flat<int32_t>().data();
  for (int64_t i = 0; i < ids.NumElements(); ++i) {
    if (p[i] < 0 || p[i] >= rows) return absl::InvalidArgumentError("fused step: id out of range");
  }
  return absl::OkStatus();
}

class TrainOp : public OpKernel {
 public:
  explicit TrainOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    int64_t threads;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("threads", &threads));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("negatives", &k_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("hogwild", &hogwild_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("group", &group_));
    pool_ = std::make_unique<Pool>(static_cast<int>(threads));
    scratch_.resize(threads);
  }

  void Compute(OpKernelContext* ctx) override {
    std::lock_guard<std::mutex> running(mu_);  // one step at a time through the pool
    tensorflow::core::RefCountPtr<Var> vars[3];
    for (int i = 0; i < 3; ++i) {
      OP_REQUIRES_OK(ctx, tensorflow::LookupResource(ctx, tensorflow::HandleFromInput(ctx, i), &vars[i]));
    }
    const Tensor& rows = ctx->input(3);
    const Tensor& mask = ctx->input(4);
    const Tensor& targets = ctx->input(5);
    const Tensor& windows = ctx->input(6);
    const Tensor& accept = ctx->input(7);
    const Tensor& alias = ctx->input(8);
    const Tensor& correction = ctx->input(9);
    const Tensor& key = ctx->input(10);
    const int64_t batch = targets.NumElements();
    const bool cbow = rows.dims() == 2;
    OP_REQUIRES(ctx, targets.dims() == 1 && rows.dims() >= 1 && rows.dim_size(0) == batch && key.NumElements() == 2,
                absl::InvalidArgumentError("fused step: rows [B] or [B, C], targets [B] and key [2] expected"));
    OP_REQUIRES(ctx, cbow ? mask.shape() == rows.shape() : windows.NumElements() == batch,
                absl::InvalidArgumentError("fused step: CBOW needs a mask like its rows, skip-gram windows [B]"));
    tensorflow::mutex_lock lock_emb(*vars[0]->mu());
    tensorflow::mutex_lock lock_out(*vars[1]->mu());
    tensorflow::mutex_lock lock_bias(*vars[2]->mu());
    Step s{};
    OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[0].get(), &s.emb));
    OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[1].get(), &s.out));
    const Tensor& table = *vars[0]->tensor();
    OP_REQUIRES(ctx, table.dims() == 2 && vars[1]->tensor()->shape() == table.shape(),
                absl::InvalidArgumentError("fused step: embedding and weights must be matrices of one shape"));
    s.vocab = table.dim_size(0);
    s.dim = table.dim_size(1);
    OP_REQUIRES(ctx, accept.NumElements() == s.vocab && alias.NumElements() == s.vocab,
                absl::InvalidArgumentError("fused step: the noise table must have a row per word"));
    if (correction.NumElements() > 0) {
      OP_REQUIRES(ctx, correction.NumElements() == s.vocab && vars[2]->tensor()->NumElements() == s.vocab,
                  absl::InvalidArgumentError("fused step: nce needs a bias and a correction per word"));
      OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[2].get(), &s.bias));
      s.correction = correction.flat<float>().data();
    }
    for (const Tensor* ids : {&rows, &targets, &alias}) OP_REQUIRES_OK(ctx, CheckIds(*ids, s.vocab));
    s.k = k_;
    s.context = cbow ? rows.dim_size(1) : 0;
    s.rows = rows.flat<int32_t>().data();
    s.mask = cbow ? mask.flat<float>().data() : nullptr;
    s.targets = targets.flat<int32_t>().data();
    s.accept = accept.flat<float>().data();
    s.alias = alias.flat<int32_t>().data();
    const auto* seed = key.flat<int64_t>().data();
    s.stream = SplitMix64(SplitMix64(static_cast<uint64_t>(seed[0])) ^ static_cast<uint64_t>(seed[1]));
    s.lr = ctx->input(11).scalar<float>()();
    Tensor* loss_t;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch}), &loss_t));
    s.loss = loss_t->flat<float>().data();
    std::fill(s.loss, s.loss + batch, 0.0f);

    // Skip-gram's windows are the runs of equal window ids (a centre word's pairs, which the pipeline
    // makes consecutive); a CBOW example is a window of its own.
    std::vector<Window> ws;
    int64_t widest = 1;
    const int64_t* wid = cbow ? nullptr : windows.flat<int64_t>().data();
    for (int64_t b = 0; b < batch;) {
      int64_t e = b + 1;
      if (!cbow) {
        while (e < batch && wid[e] == wid[b]) ++e;
      }
      ws.push_back({b, static_cast<int32_t>(e - b)});
      widest = std::max(widest, e - b);
      b = e;
    }
    for (auto& m : scratch_) m.Fit(widest, k_ + 1, s.dim);
    pending_.resize(std::max<int64_t>(2 * pool_->size(), group_));
    for (auto& p : pending_) p.Fit(widest, k_ + 1, s.dim);
    if (hogwild_) {
      Hogwild(s, ws);
    } else {
      Deterministic(s, ws);
    }
  }

 private:
  // One contiguous part of the windows a thread, each window scored and applied at once, without
  // locks (word2vec.c's threads).
  void Hogwild(const Step& s, const std::vector<Window>& ws) {
    const int64_t threads = pool_->size(), n = static_cast<int64_t>(ws.size());
    pool_->Run([&](int t) {
      const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
      Pending* p[2] = {&pending_[2 * t], &pending_[2 * t + 1]};
      if (begin < end) Prepare(s, ws[begin], *p[0]);
      for (int64_t i = begin; i < end; ++i) {
        if (i + 1 < end) Prepare(s, ws[i + 1], *p[(i + 1 - begin) % 2]);
        Pending& now = *p[(i - begin) % 2];
        Train(s, ws[i], scratch_[t], now);
        Apply(s, ws[i], now.ids.data(), now.delta.data(), now.db.data(), now.hidden, now.outputs,
              [](Table, int32_t) { return true; });
      }
    });
  }

  // Windows in groups of `group_`: each thread scores its contiguous part of a group against the tables
  // as the group found them; past a barrier, each thread adds every window's updates to the rows it owns
  // (row r belongs to thread r % threads), in window order. Every row then sees the same additions in
  // the same order whatever the number of threads, and nothing depends on timing.
  void Deterministic(const Step& s, const std::vector<Window>& ws) {
    const int threads = pool_->size();
    const int64_t n = static_cast<int64_t>(ws.size());
    Barrier barrier(threads);
    pool_->Run([&](int t) {
      for (int64_t first = 0; first < n; first += group_) {
        const int64_t size = std::min(group_, n - first);
        const int64_t begin = first + size * t / threads, end = first + size * (t + 1) / threads;
        if (begin < end) Prepare(s, ws[begin], pending_[begin - first]);
        for (int64_t i = begin; i < end; ++i) {
          if (i + 1 < end) Prepare(s, ws[i + 1], pending_[i + 1 - first]);
          Train(s, ws[i], scratch_[t], pending_[i - first]);
        }
        barrier.Wait();
        for (int64_t i = first; i < first + size; ++i) {
          const Pending& p = pending_[i - first];
          Apply(s, ws[i], p.ids.data(), p.delta.data(), p.db.data(), p.hidden, p.outputs,
                [&](Table, int32_t id) { return id % threads == t; });
        }
        barrier.Wait();
      }
    });
  }

  int64_t k_;
  bool hogwild_;
  int64_t group_;
  std::unique_ptr<Pool> pool_;
  std::vector<Scratch> scratch_;
  std::vector<Pending> pending_;
  std::mutex mu_;
};

REGISTER_KERNEL_BUILDER(Name("W2vTrain").Device(tensorflow::DEVICE_CPU), TrainOp);

}  // namespace
