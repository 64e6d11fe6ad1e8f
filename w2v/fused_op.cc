// The fused CPU engine: word2vec's SGD as one TensorFlow op, for skip-gram and CBOW with the `neg`,
// `nce` and `hs` losses.
//
// TensorFlow's own ops make a step of gathers, a batched product and scatters, each a pass over memory
// with its own cost per row. This op updates the rows in place with plain SGD, as word2vec.c and
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
//    one thread in window order (the output rows', then the input rows'). The result is a function of
//    the batch alone: bit-identical whatever the number of threads, run to run and across resumes.
//  - hogwild: the batch is cut into one contiguous part a thread, each updating the shared tables
//    window by window without locks, as word2vec.c does. Faster, but the result depends on timing.
//
// fused_window.h holds the arithmetic of one window, fused_threads.h the threads.

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "fused_threads.h"
#include "fused_window.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace w2v {
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
    .Input("paths: int32")
    .Input("codes: int32")
    .Input("frozen: int32")
    .Input("sub_offsets: int32")
    .Input("sub_ids: int32")
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
paths, codes: hs: [V, L] the inner nodes on each word's Huffman path and the branch taken at each (-1 past
  its end); other losses: [0].
frozen: [2] rows of the embedding and of the output table below these ids are left as they are.
sub_offsets, sub_ids: subwords: word w's input rows are sub_ids[sub_offsets[w]:sub_offsets[w + 1]] (the
  embedding then has more rows than the output table: the n-gram buckets'); otherwise [0].
)doc");

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
    const Tensor& paths = ctx->input(10);
    const Tensor& codes = ctx->input(11);
    const Tensor& frozen = ctx->input(12);
    const Tensor& sub_offsets = ctx->input(13);
    const Tensor& sub_ids = ctx->input(14);
    const Tensor& key = ctx->input(15);
    const int64_t batch = targets.NumElements();
    const bool cbow = rows.dims() == 2;
    OP_REQUIRES(ctx, targets.dims() == 1 && rows.dims() >= 1 && rows.dim_size(0) == batch && key.NumElements() == 2 &&
                         frozen.NumElements() == 2,
                absl::InvalidArgumentError("fused step: rows [B] or [B, C], targets [B], key and frozen [2] expected"));
    OP_REQUIRES(ctx, cbow ? mask.shape() == rows.shape() : windows.NumElements() == batch,
                absl::InvalidArgumentError("fused step: CBOW needs a mask like its rows, skip-gram windows [B]"));
    tensorflow::mutex_lock lock_emb(*vars[0]->mu());
    tensorflow::mutex_lock lock_out(*vars[1]->mu());
    tensorflow::mutex_lock lock_bias(*vars[2]->mu());
    Step s{};
    OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[0].get(), &s.emb));
    OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[1].get(), &s.out));
    const Tensor& table = *vars[0]->tensor();
    const Tensor& weights = *vars[1]->tensor();
    OP_REQUIRES(ctx, table.dims() == 2 && weights.dims() == 2 && weights.dim_size(1) == table.dim_size(1) &&
                         (sub_offsets.NumElements() > 0 ? table.dim_size(0) >= weights.dim_size(0)
                                                        : table.dim_size(0) == weights.dim_size(0)),
                absl::InvalidArgumentError("fused step: embedding and weights must be matrices of one shape "
                                           "(the embedding may have n-gram rows past the words')"));
    s.vocab = weights.dim_size(0);
    s.dim = table.dim_size(1);
    if (sub_offsets.NumElements() > 0) {
      OP_REQUIRES(ctx, sub_offsets.NumElements() == s.vocab + 1,
                  absl::InvalidArgumentError("fused step: subwords need an offset per word, and one more"));
      const int32_t* o = sub_offsets.flat<int32_t>().data();
      bool ordered = o[0] == 0 && o[s.vocab] == sub_ids.NumElements();
      for (int64_t i = 0; ordered && i < s.vocab; ++i) ordered = o[i] <= o[i + 1];
      OP_REQUIRES(ctx, ordered, absl::InvalidArgumentError("fused step: subword offsets out of order"));
      OP_REQUIRES_OK(ctx, CheckIds(sub_ids, table.dim_size(0)));
      s.sub_offsets = o;
      s.sub_ids = sub_ids.flat<int32_t>().data();
    }
    OP_REQUIRES(ctx, accept.NumElements() == s.vocab && alias.NumElements() == s.vocab,
                absl::InvalidArgumentError("fused step: the noise table must have a row per word"));
    if (correction.NumElements() > 0) {
      OP_REQUIRES(ctx, correction.NumElements() == s.vocab && vars[2]->tensor()->NumElements() == s.vocab,
                  absl::InvalidArgumentError("fused step: nce needs a bias and a correction per word"));
      OP_REQUIRES_OK(ctx, Exclusive(ctx, vars[2].get(), &s.bias));
      s.correction = correction.flat<float>().data();
    }
    if (paths.NumElements() > 0) {
      OP_REQUIRES(ctx, paths.dims() == 2 && paths.dim_size(0) == s.vocab && codes.shape() == paths.shape(),
                  absl::InvalidArgumentError("fused step: hs needs a path and codes per word"));
      const int32_t* p = paths.flat<int32_t>().data();
      for (int64_t i = 0; i < paths.NumElements(); ++i) {
        OP_REQUIRES(ctx, p[i] >= -1 && p[i] < s.vocab, absl::InvalidArgumentError("fused step: node out of range"));
      }
      s.paths = p;
      s.codes = codes.flat<int32_t>().data();
      s.depth = paths.dim_size(1);
    }
    s.frozen_inputs = frozen.flat<int32_t>()(0);
    s.frozen_outputs = frozen.flat<int32_t>()(1);
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
    s.lr = ctx->input(16).scalar<float>()();
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
    pending_.resize(std::max<int64_t>(2 * pool_->size(), group_));
    for (auto& p : pending_) p.Fit(widest, s.outputs(), s.dim, cbow || s.subwords());
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
        ApplyOutputs(s, now, [](int32_t) { return true; });
        ApplyInputs(s, ws[i], now, [](int32_t) { return true; });
      }
    });
  }

  // Windows in groups of `group_`: the threads score a group's windows against the tables as the group
  // found them, taking them a few at a time (who scores a window changes nothing, and a thread that the
  // input pipeline preempts then holds no one up); past a barrier, each thread adds every window's
  // updates to the rows it owns (each row belongs to one thread, by a hash of its id), in window order:
  // first the output rows', then, past another barrier, the input rows'. Every row then sees the same
  // additions in the same order whatever the number of threads, and nothing depends on timing. The output
  // rows' updates are made from the hidden vectors, and no input row has changed yet when they are
  // added: a window's record need not keep a copy of the input rows it scored (a row an example, for
  // skip-gram).
  void Deterministic(const Step& s, const std::vector<Window>& ws) {
    const int threads = pool_->size();
    const int64_t n = static_cast<int64_t>(ws.size());
    std::vector<std::atomic<int64_t>> cursors((n + group_ - 1) / group_);
    for (size_t g = 0; g < cursors.size(); ++g) cursors[g].store(static_cast<int64_t>(g) * group_);
    Barrier barrier(threads);
    pool_->Run([&](int t) {
      for (int64_t first = 0; first < n; first += group_) {
        const int64_t size = std::min(group_, n - first);
        std::atomic<int64_t>& cursor = cursors[first / group_];
        for (int64_t begin; (begin = cursor.fetch_add(kTake, std::memory_order_relaxed)) < first + size;) {
          const int64_t end = std::min(begin + kTake, first + size);
          Prepare(s, ws[begin], pending_[begin - first]);
          for (int64_t i = begin; i < end; ++i) {
            if (i + 1 < end) Prepare(s, ws[i + 1], pending_[i + 1 - first]);
            Train(s, ws[i], scratch_[t], pending_[i - first]);
          }
        }
        barrier.Wait();
        // Row id belongs to thread (id * phi mod 2^32) * threads / 2^32: a multiplication, where id %
        // threads was a division for every output and input of every window in each thread.
        auto owns = [&](int32_t id) {
          const uint64_t hash = static_cast<uint32_t>(id) * 0x9e3779b9u;
          return static_cast<int>((hash * threads) >> 32) == t;
        };
        for (int64_t i = first; i < first + size; ++i) ApplyOutputs(s, pending_[i - first], owns);
        barrier.Wait();
        for (int64_t i = first; i < first + size; ++i) ApplyInputs(s, ws[i], pending_[i - first], owns);
        barrier.Wait();
      }
    });
  }

  // Windows a thread takes at a time while scoring a group.
  static constexpr int64_t kTake = 16;

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
}  // namespace w2v
