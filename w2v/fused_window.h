// The fused engine's arithmetic of one window: its noise words, logits, gradients and updates
// (w2v/fused_op.cc says what a window is).
#ifndef W2V_FUSED_WINDOW_H_
#define W2V_FUSED_WINDOW_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace w2v {

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
  const int32_t* paths;     // hs only: [vocab][depth] inner nodes from the root, -1 past the end
  const int32_t* codes;     // hs only: the branch taken at each node
  const int32_t* sub_offsets;  // subwords only: word w's input rows are sub_ids[sub_offsets[w]..sub_offsets[w+1])
  const int32_t* sub_ids;      // (its own row, then its n-gram buckets' rows past the words)
  int64_t dim, vocab, k, depth;  // depth: the longest path (0 unless hs)
  int64_t frozen_inputs, frozen_outputs;  // rows below these ids are not updated (a warm start's old words)
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
  bool hs() const { return depth > 0; }
  bool subwords() const { return sub_offsets != nullptr; }
  int64_t outputs() const { return std::max(k + 1, depth); }  // the most output rows a window has
};

// The products below work on blocks of sixteen floats, lane i of a block summing elements i mod 16, held
// as two halves of eight: a vector of eight floats fits one register wherever there are 256-bit ones
// (AVX2, AVX-512), while GCC keeps a 16-float vector in memory on targets without 512-bit registers and
// made every addition a store and a reload (4x slower on an AVX2 machine). The halves do the same
// arithmetic per lane as one 16-float value.
typedef float Lanes8 __attribute__((vector_size(32)));
// The helpers below are always inlined into the functions that target_clones compiles for AVX-512, AVX2
// and the baseline: a helper left as a call is compiled for the baseline alone, where these vectors live
// in memory (a longer WeightedSum, past GCC's inlining limit, made the engine 1.6x slower).
#define W2V_INLINE __attribute__((always_inline)) inline
// The instruction sets those functions are compiled for; the CPU's best is chosen when the library loads.
// W2V_TARGETS narrows the list (w2v/fused.py's W2V_ENGINE_ISA), to measure one set against another on one
// machine. Built without contracting multiply-adds (w2v/fused.py), every set gives the same bits.
#ifndef W2V_TARGETS
#define W2V_TARGETS "avx512f", "avx2", "default"
#endif
#define W2V_CLONES __attribute__((target_clones(W2V_TARGETS)))
typedef float Lanes4 __attribute__((vector_size(16)));
typedef float Unaligned8 __attribute__((vector_size(32), aligned(4), may_alias));

W2V_INLINE Lanes8 Load8(const float* p) { return *reinterpret_cast<const Unaligned8*>(p); }
W2V_INLINE void Store8(float* p, Lanes8 v) { *reinterpret_cast<Unaligned8*>(p) = v; }

// The lanes of a block's two halves added as a tree.
W2V_INLINE float Reduce(Lanes8 low, Lanes8 high) {
  const Lanes8 eight = low + high;
  Lanes4 left, right;
  std::memcpy(&left, &eight, sizeof(left));
  std::memcpy(&right, reinterpret_cast<const char*>(&eight) + sizeof(left), sizeof(right));
  const Lanes4 four = left + right;
  return (four[0] + four[2]) + (four[1] + four[3]);
}

// Dot products of a with b[0..n) in a fixed order (Reduce's, then the last dim % 16 elements in turn),
// n <= 4 at once so that a is loaded once for all. Written with vector types: a horizontal sum left to
// the compiler becomes a chain of 16 scalar additions (it may not reorder them).
template <int n>
W2V_INLINE void Dots(const float* a, const float* const* b, int64_t dim, float* out) {
  Lanes8 low[n] = {}, high[n] = {};
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    const Lanes8 x0 = Load8(a + d), x1 = Load8(a + d + 8);
    for (int j = 0; j < n; ++j) {
      low[j] += x0 * Load8(b[j] + d);
      high[j] += x1 * Load8(b[j] + d + 8);
    }
  }
  for (int j = 0; j < n; ++j) {
    float f = Reduce(low[j], high[j]);
    for (int64_t e = d; e < dim; ++e) f += a[e] * b[j][e];
    out[j] = f;
  }
}

// out = sum_j coef(j) row(j), j = 0..n-1 in order for every element (so the same bits as adding whole
// rows in turn), 64 elements at a time, then 8: their sums stay in registers while the rows stream past,
// where adding into `out` row by row loaded and stored it once a row. Each element's sum is a chain of n
// dependent additions; 64 elements at once run eight such chains side by side, so the core does not wait
// on each addition's latency. kAdd: out += the sum instead (the same bits as making the sum, then adding
// it).
template <bool kAdd, typename Coef, typename Row>
W2V_INLINE void WeightedSum(int32_t n, Coef&& coef, Row&& row, int64_t dim, float* out) {
  constexpr int kWide = 8;  // registers of eight floats a pass
  int64_t d = 0;
  for (; d + 8 * kWide <= dim; d += 8 * kWide) {
    Lanes8 acc[kWide] = {};
    for (int32_t j = 0; j < n; ++j) {
      const float c = coef(j);
      const float* r = row(j) + d;
      for (int b = 0; b < kWide; ++b) acc[b] += c * Load8(r + 8 * b);
    }
    for (int b = 0; b < kWide; ++b) Store8(out + d + 8 * b, kAdd ? Load8(out + d + 8 * b) + acc[b] : acc[b]);
  }
  for (; d + 8 <= dim; d += 8) {
    Lanes8 acc = {};
    for (int32_t j = 0; j < n; ++j) acc += coef(j) * Load8(row(j) + d);
    Store8(out + d, kAdd ? Load8(out + d) + acc : acc);
  }
  for (; d < dim; ++d) {
    float acc = 0.0f;
    for (int32_t j = 0; j < n; ++j) acc += coef(j) * row(j)[d];
    out[d] = kAdd ? out[d] + acc : acc;
  }
}

inline void Prefetch(const float* from, int64_t n) {
  const char* p = reinterpret_cast<const char*>(from);
  for (int64_t off = 0; off < n * static_cast<int64_t>(sizeof(float)); off += 64) __builtin_prefetch(p + off, 1);
}

// The window's output rows and the label of each (1: the logit should be high). Sampled losses: its
// centre word (label 1), then its negatives (label 0); a negative equal to the centre word teaches
// nothing and is dropped, a repeated one counts twice. hs: the inner nodes on the centre word's path,
// labelled 1 - code as in word2vec.c. Returns how many are distinct.
int32_t Outputs(const Step& s, const Window& w, int32_t* ids, int32_t* counts, float* labels) {
  const int32_t target = s.targets[w.first];
  if (s.hs()) {
    int32_t n = 0;
    for (; n < s.depth && s.paths[target * s.depth + n] >= 0; ++n) {
      ids[n] = s.paths[target * s.depth + n];
      counts[n] = 1;
      labels[n] = 1.0f - static_cast<float>(s.codes[target * s.depth + n]);
    }
    return n;
  }
  ids[0] = target;
  counts[0] = 1;
  labels[0] = 1.0f;
  int32_t n = 1;
  for (int64_t j = 0; j < s.k; ++j) {
    const int32_t drawn =
        Noise(s.stream, static_cast<uint64_t>(w.first * s.k + j), s.accept, s.alias, static_cast<uint64_t>(s.vocab));
    if (drawn == target) continue;
    int32_t i = 1;
    while (i < n && ids[i] != drawn) ++i;
    if (i == n) {
      ids[n] = drawn;
      labels[n] = 0.0f;
      counts[n++] = 1;
    } else {
      ++counts[i];
    }
  }
  return n;
}

// Calls f(row) for each input row of a word: its own, and with subwords its n-grams'.
template <typename F>
void ForRows(const Step& s, int32_t word, F&& f) {
  if (!s.subwords()) {
    f(word);
    return;
  }
  for (int32_t j = s.sub_offsets[word]; j < s.sub_offsets[word + 1]; ++j) f(s.sub_ids[j]);
}

// Calls f(row) for each input row of the window's hidden vector h: skip-gram's context word's, or those
// of every real context word of a CBOW example (each row takes the whole gradient, as in word2vec.c and
// fastText).
template <typename F>
void ForInputs(const Step& s, const Window& w, int32_t h, F&& f) {
  if (s.context == 0) {
    ForRows(s, s.rows[w.first + h], f);
    return;
  }
  for (int64_t c = 0; c < s.context; ++c) {
    if (s.mask[w.first * s.context + c] > 0) ForRows(s, s.rows[w.first * s.context + c], f);
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

// The mean of the input rows of hidden vector h, written to `mean` (`rows` is scratch memory); false when
// it has none.
W2V_CLONES
bool Mean(const Step& s, const Window& w, int32_t h, std::vector<const float*>& rows, float* mean) {
  rows.clear();
  ForInputs(s, w, h, [&](int32_t id) { rows.push_back(s.emb + static_cast<int64_t>(id) * s.dim); });
  if (rows.empty()) return false;
  WeightedSum<false>(
      static_cast<int32_t>(rows.size()), [](int32_t) { return 1.0f; }, [&](int32_t j) { return rows[j]; }, s.dim,
      mean);
  const float inv = 1.0f / static_cast<float>(rows.size());
#pragma omp simd
  for (int64_t d = 0; d < s.dim; ++d) mean[d] *= inv;
  return true;
}

// The window's hidden vectors: skip-gram's context rows (with subwords, each context word's mean of its
// rows), or CBOW's mean of its context rows, means written to `mean` (`rows`: scratch memory). Returns
// how many (0: a CBOW example without context).
int32_t Hidden(const Step& s, const Window& w, const float** x, std::vector<const float*>& rows, float* mean) {
  if (s.context == 0) {
    for (int32_t h = 0; h < w.count; ++h) {
      if (s.subwords()) {
        Mean(s, w, h, rows, mean + h * s.dim);
        x[h] = mean + h * s.dim;
      } else {
        x[h] = s.emb + static_cast<int64_t>(s.rows[w.first + h]) * s.dim;
      }
    }
    return w.count;
  }
  x[0] = mean;
  return Mean(s, w, 0, rows, mean) ? 1 : 0;
}

W2V_CLONES
void Add(float* row, const float* delta, int64_t dim) {
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d) row[d] += delta[d];
}

// The logits [hidden][outputs] of a window: dot products, plus nce's bias and correction.
W2V_CLONES
void Logits(const Step& s, const float* const* x, const int32_t* ids, int32_t hidden, int32_t n_out, float* logits) {
  const float* u[4];
  for (int32_t h = 0; h < hidden; ++h) {
    float* out = logits + h * n_out;
    int32_t o = 0;
    for (; o + 4 <= n_out; o += 4) {
      for (int j = 0; j < 4; ++j) u[j] = s.out + static_cast<int64_t>(ids[o + j]) * s.dim;
      Dots<4>(x[h], u, s.dim, out + o);
    }
    // The rest two at a time, then one: a lone dot product is two chains of additions, latency-bound.
    for (; o + 2 <= n_out; o += 2) {
      for (int j = 0; j < 2; ++j) u[j] = s.out + static_cast<int64_t>(ids[o + j]) * s.dim;
      Dots<2>(x[h], u, s.dim, out + o);
    }
    for (; o < n_out; ++o) {
      u[0] = s.out + static_cast<int64_t>(ids[o]) * s.dim;
      Dots<1>(x[h], u, s.dim, out + o);
    }
    if (s.nce()) {
      for (o = 0; o < n_out; ++o) out[o] += s.bias[ids[o]] - s.correction[ids[o]];
    }
  }
}

// exp(x) for x <= 0, to float precision (relative error below 2e-7) in plain arithmetic the compiler
// vectorises: libm's expf is a call per element. x = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor
// polynomial (Horner), and 2^n put into the exponent bits. x below -87 counts as -87, so that 2^n stays a
// normal float: exp(-87) is 1.6e-38, which the callers' sums (1 + e) cannot tell from 0.
inline float ExpNonPositive(float x) {
  x = std::max(x, -87.0f);
  // Rounded to the nearest integer (ties to even, as nearbyint in the default rounding mode) by adding
  // and taking away 1.5 * 2^23, where a float has no fraction bits left: plain arithmetic that
  // vectorises, where nearbyint is a call the vectoriser leaves alone.
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504f + kRound) - kRound;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 in two parts: r stays exact
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// log(1 + e) for 0 <= e <= 1 (relative error below 3e-7): with t = e / (2 + e) <= 1/3, log(1 + e) =
// 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...), whose terms past t^15 are below float precision.
inline float Log1pUnit(float e) {
  const float t = e / (2.0f + e), t2 = t * t;
  float p = 1.0f / 15;
  p = p * t2 + 1.0f / 13;
  p = p * t2 + 1.0f / 11;
  p = p * t2 + 1.0f / 9;
  p = p * t2 + 1.0f / 7;
  p = p * t2 + 1.0f / 5;
  p = p * t2 + 1.0f / 3;
  p = p * t2 + 1.0f;
  return 2.0f * t * p;
}

// Turns a window's logits [hidden][outputs] into gradients, learning rate and counts included, in
// place; writes each example's loss to `loss`. One branch-free loop over the whole block, so that it
// vectorises: a row of a window has 6 outputs with 5 negatives, fewer than a vector's lanes, and a loop
// over a row ran scalar. `work`: 3 * hidden * outputs floats of scratch memory.
W2V_CLONES
void Gradients(const Step& s, float* logits, const int32_t* counts, const float* labels, int32_t hidden,
               int32_t n_out, float* loss, float* work) {
  const int32_t n = hidden * n_out;
  float* label = work;
  float* count = work + n;
  float* terms = work + 2 * n;
  for (int32_t h = 0; h < hidden; ++h) {
    for (int32_t o = 0; o < n_out; ++o) {
      label[h * n_out + o] = labels[o];
      count[h * n_out + o] = static_cast<float>(counts[o]);
    }
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) {
    const float f = logits[i];
    // One exp gives both the sigmoid and the loss: with e = exp(-|f|), sigmoid(f) = 1/(1+e) or e/(1+e),
    // and softplus(+-f) = max(+-f, 0) + log(1+e).
    const float e = ExpNonPositive(-std::fabs(f));
    terms[i] = count[i] * (std::max(label[i] > 0 ? -f : f, 0.0f) + Log1pUnit(e));
    const float inv = 1.0f / (1.0f + e);
    const float sigmoid = f >= 0 ? inv : e * inv;
    const float g = count[i] * (label[i] - sigmoid) * s.lr;
    logits[i] = std::fabs(f) < kMaxScore ? g : 0.0f;
  }
  for (int32_t h = 0; h < hidden; ++h) {
    float total = 0.0f;
    for (int32_t o = 0; o < n_out; ++o) total += terms[h * n_out + o];
    loss[h] = total;
  }
}

// A window's input updates from its gradients, against the output rows as they are:
// dx[h] = sum_o g[h, o] u_o, one row a hidden vector.
W2V_CLONES
void InputDeltas(const Step& s, const int32_t* ids, const float* grads, int32_t hidden, int32_t n_out, float* delta) {
  for (int32_t h = 0; h < hidden; ++h) {
    WeightedSum<false>(
        n_out, [&](int32_t o) { return grads[h * n_out + o]; },
        [&](int32_t o) { return s.out + static_cast<int64_t>(ids[o]) * s.dim; }, s.dim, delta + h * s.dim);
  }
}

// Adds output o's update to its row u: sum_h g[h, o] x_h, from the window's hidden vectors x[h] as scoring
// saw them; returns its bias's update, sum_h g[h, o].
W2V_CLONES
float AddOutputDelta(const Step& s, const float* const* x, const float* grads, int32_t hidden, int32_t n_out,
                     int32_t o, float* u) {
  WeightedSum<true>(
      hidden, [&](int32_t h) { return grads[h * n_out + o]; }, [&](int32_t h) { return x[h]; }, s.dim, u);
  float db = 0.0f;
  for (int32_t h = 0; h < hidden; ++h) db += grads[h * n_out + o];
  return db;
}

// A window scored: what its updates are made of. The output rows' updates are made when they are added
// (from the hidden vectors and gradients, a few rows), not when the window is scored (a row an output):
// the deterministic mode keeps a group's windows until they are applied, and a smaller record stays in
// the caches. Skip-gram's hidden vectors are the table's rows themselves: they must not change between
// scoring and adding the output updates (both modes add those first).
struct Pending {
  int32_t hidden = 0, outputs = 0;
  std::vector<int32_t> ids;  // output ids, then their counts
  std::vector<float> labels;
  std::vector<float> grads;      // [hidden][outputs], learning rate included
  std::vector<const float*> xs;  // the hidden vectors: table rows, or rows of x
  std::vector<float> x;          // the means (CBOW, subwords), [hidden][dim]
  std::vector<float> dx;         // the hidden vectors' updates, [hidden][dim]
  std::vector<float> work;       // Gradients' scratch memory
  // `means`: whether the hidden vectors are means (CBOW, subwords) rather than table rows.
  void Fit(int64_t widest, int64_t outs, int64_t dim, bool means) {
    ids.resize(2 * outs);
    labels.resize(outs);
    grads.resize(widest * outs);
    xs.resize(widest);
    x.resize(means ? widest * dim : 0);
    dx.resize(widest * dim);
    work.resize(3 * widest * outs);
  }
};

// Adds a scored window's output updates to the rows `owns(id)` accepts and that are not frozen, from its
// hidden vectors as they are now.
template <typename Owns>
void ApplyOutputs(const Step& s, const Pending& p, Owns&& owns) {
  for (int32_t o = 0; o < p.outputs; ++o) {
    const int32_t id = p.ids[o];
    if (id < s.frozen_outputs || !owns(id)) continue;
    float* u = s.out + static_cast<int64_t>(id) * s.dim;
    const float db = AddOutputDelta(s, p.xs.data(), p.grads.data(), p.hidden, p.outputs, o, u);
    if (s.nce()) s.bias[id] += db;
  }
}

// Adds a scored window's input updates to the rows `owns(id)` accepts and that are not frozen.
template <typename Owns>
void ApplyInputs(const Step& s, const Window& w, const Pending& p, Owns&& owns) {
  for (int32_t h = 0; h < p.hidden; ++h) {
    ForInputs(s, w, h, [&](int32_t id) {
      if (id >= s.frozen_inputs && owns(id)) {
        Add(s.emb + static_cast<int64_t>(id) * s.dim, p.dx.data() + h * s.dim, s.dim);
      }
    });
  }
}

// Per-thread memory for scoring windows, reused across windows and steps: the rows a mean is taken of.
struct Scratch {
  std::vector<const float*> rows;
};

// Draws a window's outputs into `p` and asks for its rows.
void Prepare(const Step& s, const Window& w, Pending& p) {
  p.outputs = Outputs(s, w, p.ids.data(), p.ids.data() + s.outputs(), p.labels.data());
  Prefetch(s, w, p.ids.data(), p.outputs);
}

// Scores a prepared window against the tables as they are and leaves what its updates are made of in
// `p`; writes its examples' losses.
void Train(const Step& s, const Window& w, Scratch& m, Pending& p) {
  p.hidden = Hidden(s, w, p.xs.data(), m.rows, p.x.data());
  Logits(s, p.xs.data(), p.ids.data(), p.hidden, p.outputs, p.grads.data());
  Gradients(s, p.grads.data(), p.ids.data() + s.outputs(), p.labels.data(), p.hidden, p.outputs, s.loss + w.first,
            p.work.data());
  InputDeltas(s, p.ids.data(), p.grads.data(), p.hidden, p.outputs, p.dx.data());
}

}  // namespace w2v

#endif  // W2V_FUSED_WINDOW_H_
