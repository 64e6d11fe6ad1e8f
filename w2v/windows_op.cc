// The pipeline's examples from a chunk, in two passes (w2v/pipeline.py draws the random numbers with
// TensorFlow's stateless ops): W2vKeep turns a chunk of the corpus stream into its kept tokens (mapped to
// the vocabulary, subsampled) with their sentences and positions, and W2vWindows makes their pairs or
// contexts. The same examples, in the same order, as the pipeline's TensorFlow ops, which take a dozen
// passes over a chunk's tokens and build a [tokens, 2 * window] grid of candidate context cells to mask:
// those passes were two thirds of the pipeline's CPU time.
//
// A cell (i, o), o in -window..-1, 1..window, is a context word of centre i when i + o is inside the
// chunk, |o| <= reduced[i] and the token is in i's sentence.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace w2v {
namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::shape_inference::InferenceContext;

// The stream's end of a sentence (w2v/shards.py's SEPARATOR); word ids are >= 0.
constexpr int32_t kSeparator = -1;

REGISTER_OP("W2vKeep")
    .Input("values: int32")
    .Input("remap: int32")
    .Input("keep: float")
    .Input("draw: float")
    .Input("base: int64")
    .Output("tokens: int32")
    .Output("sentence: int32")
    .Output("position: int64")
    .SetShapeFn([](InferenceContext* c) {
      const auto n = c->UnknownDim();
      for (int i = 0; i < 3; ++i) c->set_output(i, c->Vector(n));
      return absl::OkStatus();
    })
    .Doc(R"doc(
A chunk's kept tokens: a word of the stream (values >= 0, a -1 ends a sentence) is kept when the
vocabulary has it (remap[value] >= 0) and its draw is below its keep probability (keep[remap[value]]).

tokens: the kept words' vocabulary ids, in stream order.
sentence: each one's sentence, counted in the chunk (the separators at or before it).
position: each one's stream position, base + its index in the chunk.
)doc");

class KeepOp : public OpKernel {
 public:
  explicit KeepOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& values_t = ctx->input(0);
    const Tensor& remap_t = ctx->input(1);
    const Tensor& keep_t = ctx->input(2);
    const int64_t length = values_t.NumElements();
    OP_REQUIRES(ctx, ctx->input(3).NumElements() == length && ctx->input(4).NumElements() == 1,
                absl::InvalidArgumentError("keep: a draw per value and one base expected"));
    const int32_t* values = values_t.flat<int32_t>().data();
    const int32_t* remap = remap_t.flat<int32_t>().data();
    const float* keep = keep_t.flat<float>().data();
    const float* draw = ctx->input(3).flat<float>().data();
    const int64_t base = ctx->input(4).flat<int64_t>()(0);
    const int64_t words = remap_t.NumElements(), vocab = keep_t.NumElements();
    // The word each value maps to, -1 for a separator or a word out of the vocabulary; checked first, so
    // that the outputs can be sized.
    std::vector<int32_t> mapped(length);
    int64_t n = 0;
    for (int64_t i = 0; i < length; ++i) {
      const int32_t v = values[i];
      OP_REQUIRES(ctx, v >= kSeparator && v < words, absl::InvalidArgumentError("keep: a value out of range"));
      const int32_t w = v == kSeparator ? -1 : remap[v];
      OP_REQUIRES(ctx, w < vocab, absl::InvalidArgumentError("keep: remap points past the keep table"));
      mapped[i] = w >= 0 && draw[i] < keep[w] ? w : -1;
      n += mapped[i] >= 0;
    }
    Tensor *tokens_t, *sentence_t, *position_t;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n}), &tokens_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({n}), &sentence_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({n}), &position_t));
    int32_t* tokens = tokens_t->flat<int32_t>().data();
    int32_t* sentence = sentence_t->flat<int32_t>().data();
    int64_t* position = position_t->flat<int64_t>().data();
    int32_t separators = 0;
    for (int64_t i = 0, e = 0; i < length; ++i) {
      separators += values[i] == kSeparator;
      if (mapped[i] < 0) continue;
      tokens[e] = mapped[i];
      sentence[e] = separators;
      position[e++] = base + i;
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("W2vKeep").Device(tensorflow::DEVICE_CPU), KeepOp);

REGISTER_OP("W2vWindows")
    .Input("tokens: int32")
    .Input("sentence: int32")
    .Input("reduced: int32")
    .Input("position: int64")
    .Attr("window: int >= 1")
    .Attr("cbow: bool")
    .Output("inputs: int32")
    .Output("labels: int32")
    .Output("mask: float")
    .Output("positions: int64")
    .SetShapeFn([](InferenceContext* c) {
      bool cbow;
      int64_t window;
      TF_RETURN_IF_ERROR(c->GetAttr("cbow", &cbow));
      TF_RETURN_IF_ERROR(c->GetAttr("window", &window));
      const auto n = c->UnknownDim();
      c->set_output(0, cbow ? c->Matrix(n, 2 * window) : c->Vector(n));
      c->set_output(1, c->Vector(n));
      c->set_output(2, cbow ? c->Matrix(n, 2 * window) : c->Vector(0));
      c->set_output(3, c->Vector(n));
      return absl::OkStatus();
    })
    .Doc(R"doc(
A chunk's examples, centre by centre (and in a centre's pairs, offsets ascending).

inputs: skip-gram: [P] the centre word of each pair; CBOW: [M, 2 * window] the context words of each centre
  that has any, 0 in empty cells.
labels: skip-gram: the context word of each pair; CBOW: the centre words.
mask: CBOW: [M, 2 * window] 1 where a cell is real; skip-gram: [0].
positions: the position of each example's centre word.
)doc");

class WindowsOp : public OpKernel {
 public:
  explicit WindowsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("window", &window_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("cbow", &cbow_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& tokens_t = ctx->input(0);
    const int64_t n = tokens_t.NumElements();
    for (int i = 1; i < 4; ++i) {
      OP_REQUIRES(ctx, ctx->input(i).NumElements() == n,
                  absl::InvalidArgumentError("windows: tokens, sentence, reduced and position must have one length"));
    }
    const int32_t* tokens = tokens_t.flat<int32_t>().data();
    const int32_t* sentence = ctx->input(1).flat<int32_t>().data();
    const int32_t* reduced = ctx->input(2).flat<int32_t>().data();
    const int64_t* position = ctx->input(3).flat<int64_t>().data();
    // Cells of centre i: the offsets o with |o| <= reduced[i] inside the chunk and the sentence (clamped to
    // the window, whose 2 * window columns a CBOW row has).
    auto for_cells = [&](int64_t i, auto&& f) {
      const int64_t r = std::clamp<int64_t>(reduced[i], 0, window_);
      for (int64_t o = -r; o <= r; ++o) {
        const int64_t j = i + o;
        if (o != 0 && j >= 0 && j < n && sentence[j] == sentence[i]) f(o, j);
      }
    };
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t cells = 0;
      for_cells(i, [&](int64_t, int64_t) { ++cells; });
      count += cbow_ ? (cells > 0) : cells;
    }
    const int64_t width = 2 * window_;
    Tensor *inputs_t, *labels_t, *mask_t, *positions_t;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, cbow_ ? TensorShape({count, width}) : TensorShape({count}), &inputs_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({count}), &labels_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, cbow_ ? TensorShape({count, width}) : TensorShape({0}), &mask_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({count}), &positions_t));
    int32_t* inputs = inputs_t->flat<int32_t>().data();
    int32_t* labels = labels_t->flat<int32_t>().data();
    float* mask = mask_t->flat<float>().data();
    int64_t* positions = positions_t->flat<int64_t>().data();
    std::vector<int32_t> row(width);
    std::vector<float> real(width);
    int64_t e = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!cbow_) {
        for_cells(i, [&](int64_t, int64_t j) {
          inputs[e] = tokens[i];
          labels[e] = tokens[j];
          positions[e++] = position[i];
        });
        continue;
      }
      std::fill(row.begin(), row.end(), 0);
      std::fill(real.begin(), real.end(), 0.0f);
      bool any = false;
      for_cells(i, [&](int64_t o, int64_t j) {
        const int64_t cell = o < 0 ? o + window_ : o + window_ - 1;  // the grid's column of offset o
        row[cell] = tokens[j];
        real[cell] = 1.0f;
        any = true;
      });
      if (any) {
        std::copy(row.begin(), row.end(), inputs + e * width);
        std::copy(real.begin(), real.end(), mask + e * width);
        labels[e] = tokens[i];
        positions[e++] = position[i];
      }
    }
  }

 private:
  int64_t window_;
  bool cbow_;
};

REGISTER_KERNEL_BUILDER(Name("W2vWindows").Device(tensorflow::DEVICE_CPU), WindowsOp);

}  // namespace
}  // namespace w2v
