// The fused skip-gram negative-sampling step: word2vec.c's inner loop as one TensorFlow op.
//
// TensorFlow's own ops make a step of gathers, a batched product and two scatters, and the scatters
// alone cost about 0.5 us a row on a CPU. This op instead walks the batch pair by pair and updates
// the rows in place with plain SGD, as word2vec.c and gensim do: for each example, the output rows
// of the context word and of its negatives move at once, and the centre word's row takes the summed
// update at the end of the example. Negatives come in as an input (drawn by the caller from a
// stateless, step-keyed draw), so the op itself holds no random state. With threads > 1 the batch is
// split into contiguous parts that update the shared tables without locks (Hogwild, as word2vec.c).

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

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

REGISTER_OP("W2vSkipgramNegTrain")
    .Input("embedding: resource")
    .Input("weights: resource")
    .Input("inputs: int32")
    .Input("labels: int32")
    .Input("negatives: int32")
    .Input("learning_rate: float")
    .Attr("threads: int >= 1 = 1")
    .Output("loss: float")
    .SetIsStateful()
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(2));
      return absl::OkStatus();
    })
    .Doc("Per-pair SGD on word2vec's negative-sampling loss; returns each example's loss.");

// One example: centre row v, the context row and k negative rows of `out`.
__attribute__((target_clones("avx2", "default")))
float TrainExample(float* v, float* out, int64_t dim, int32_t label, const int32_t* negatives, int64_t k,
                   float lr, float* neu1e) {
  std::memset(neu1e, 0, sizeof(float) * dim);
  float loss = 0;
  for (int64_t j = 0; j <= k; ++j) {
    const int32_t target = j == 0 ? label : negatives[j - 1];
    if (j > 0 && target == label) continue;  // a negative that is the context word teaches nothing
    float* u = out + target * dim;
    float f = 0;
    // A float sum only vectorises when told it may be reordered (no -ffast-math here).
#pragma omp simd reduction(+ : f)
    for (int64_t d = 0; d < dim; ++d) f += v[d] * u[d];
    // One exp and one log1p give both the sigmoid and the loss: with e = exp(-|f|),
    // sigmoid(f) = 1/(1+e) or e/(1+e), and softplus(+-f) = max(+-f, 0) + log1p(e).
    const float e = std::exp(-std::fabs(f));
    const float sigmoid = f >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    const float g = ((j == 0 ? 1.0f : 0.0f) - sigmoid) * lr;
    loss += std::max(j == 0 ? -f : f, 0.0f) + std::log1p(e);
    for (int64_t d = 0; d < dim; ++d) neu1e[d] += g * u[d];
    for (int64_t d = 0; d < dim; ++d) u[d] += g * v[d];
  }
  for (int64_t d = 0; d < dim; ++d) v[d] += neu1e[d];
  return loss;
}

// The variable's buffer, made exclusive first: updating in place must not change a tensor that a
// read of the variable still holds.
absl::Status Exclusive(OpKernelContext* ctx, Var* var, float** data) {
  Tensor* t = var->tensor();
  if (t->dtype() != tensorflow::DT_FLOAT || t->dims() != 2) {
    return absl::InvalidArgumentError("fused step: tables must be float32 matrices");
  }
  if (!t->RefCountIsOne()) {
    Tensor copy;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy));
    std::memcpy(copy.flat<float>().data(), t->flat<float>().data(), sizeof(float) * t->NumElements());
    *t = copy;
  }
  *data = t->flat<float>().data();
  return absl::OkStatus();
}

class SkipgramNegTrainOp : public OpKernel {
 public:
  explicit SkipgramNegTrainOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("threads", &threads_));
  }

  void Compute(OpKernelContext* ctx) override {
    tensorflow::core::RefCountPtr<Var> emb_var, out_var;
    OP_REQUIRES_OK(ctx, tensorflow::LookupResource(ctx, tensorflow::HandleFromInput(ctx, 0), &emb_var));
    OP_REQUIRES_OK(ctx, tensorflow::LookupResource(ctx, tensorflow::HandleFromInput(ctx, 1), &out_var));
    const Tensor& inputs = ctx->input(2);
    const Tensor& labels = ctx->input(3);
    const Tensor& negatives = ctx->input(4);
    const float lr = ctx->input(5).scalar<float>()();
    OP_REQUIRES(ctx, inputs.dims() == 1 && labels.shape() == inputs.shape() && negatives.dims() == 2 &&
                         negatives.dim_size(0) == inputs.dim_size(0),
                absl::InvalidArgumentError("fused step: inputs [B], labels [B] and negatives [B, k] expected"));
    tensorflow::mutex_lock lock_emb(*emb_var->mu());
    tensorflow::mutex_lock lock_out(*out_var->mu());
    float* emb;
    float* out;
    OP_REQUIRES_OK(ctx, Exclusive(ctx, emb_var.get(), &emb));
    OP_REQUIRES_OK(ctx, Exclusive(ctx, out_var.get(), &out));
    const int64_t rows = emb_var->tensor()->dim_size(0), dim = emb_var->tensor()->dim_size(1);
    OP_REQUIRES(ctx, out_var->tensor()->dim_size(0) == rows && out_var->tensor()->dim_size(1) == dim,
                absl::InvalidArgumentError("fused step: embedding and weights differ in shape"));
    const int64_t batch = inputs.dim_size(0), k = negatives.dim_size(1);
    const int32_t* in = inputs.flat<int32_t>().data();
    const int32_t* lab = labels.flat<int32_t>().data();
    const int32_t* neg = negatives.flat<int32_t>().data();
    for (const Tensor* ids : {&inputs, &labels, &negatives}) {
      const int32_t* p = ids->flat<int32_t>().data();
      for (int64_t i = 0; i < ids->NumElements(); ++i) {
        OP_REQUIRES(ctx, p[i] >= 0 && p[i] < rows, absl::InvalidArgumentError("fused step: id out of range"));
      }
    }
    Tensor* loss_t;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch}), &loss_t));
    float* loss = loss_t->flat<float>().data();
    // Rows are scattered over tables far larger than the caches, so the loop waits on memory more
    // than it computes: ask for the rows of a later example while this one trains.
    auto prefetch = [&](int64_t b) {
      const int64_t bytes = dim * static_cast<int64_t>(sizeof(float));
      auto fetch = [&](const float* row) {
        for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(reinterpret_cast<const char*>(row) + off, 1);
      };
      fetch(emb + in[b] * dim);
      fetch(out + lab[b] * dim);
      for (int64_t j = 0; j < k; ++j) fetch(out + neg[b * k + j] * dim);
    };
    constexpr int64_t kAhead = 2;
    auto part = [&](int64_t begin, int64_t end) {
      std::vector<float> neu1e(dim);
      for (int64_t b = begin; b < end; ++b) {
        if (b + kAhead < end) prefetch(b + kAhead);
        loss[b] = TrainExample(emb + in[b] * dim, out, dim, lab[b], neg + b * k, k, lr, neu1e.data());
      }
    };
    const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(threads_, batch / 64));
    std::vector<std::thread> pool;
    for (int64_t t = 1; t < threads; ++t) pool.emplace_back(part, batch * t / threads, batch * (t + 1) / threads);
    part(0, batch / threads);
    for (auto& thread : pool) thread.join();
  }

 private:
  int64_t threads_;
};

REGISTER_KERNEL_BUILDER(Name("W2vSkipgramNegTrain").Device(tensorflow::DEVICE_CPU), SkipgramNegTrainOp);

}  // namespace
