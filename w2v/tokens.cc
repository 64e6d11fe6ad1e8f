// The corpus tokeniser's inner loop in C++ (w2v/tokens.py loads it with ctypes): ASCII lines split
// into tokens and mapped to provisional ids in one pass, where Python spent most of a corpus's first read
// hashing each token's new str object into a dict. Lines with other characters stay with Python's
// tokeniser (Unicode case and letter classes), and only their tokens' ids come from here, so that both
// share one vocabulary in first-appearance order.
//
// The two tokenisers, as w2v/corpus.py's on ASCII text: "whitespace" is str.split() (runs of bytes other
// than 9-13, 28-32); "words" is the regex [^\W_]+(?:'[^\W_]+)* (runs of letters and digits, joined by
// single apostrophes). Lowercasing maps A-Z to a-z, as str.lower() does on ASCII.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace {

// Tokens to ids in an open-addressing table (each slot a word's id and its hash's low bits, probed in turn):
// std::unordered_map's bucket chains cost a cache miss or two a token, 150 ns of 170 a token here.
class Vocabulary {
 public:
  Vocabulary() : slots_(1 << 16, kEmpty) {}

  // The id of a token, a new one (the next in turn) the first time it is seen.
  int32_t Id(std::string_view token) {
    const uint64_t hash = Hash(token);
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot slot = slots_[i];
      if (slot.id == kEmpty.id) break;
      if (slot.check == static_cast<uint32_t>(hash >> 32) && words_[slot.id] == token) return slot.id;
    }
    const auto id = static_cast<int32_t>(words_.size());
    words_.push_back(Keep(token));
    bytes_ += static_cast<int64_t>(token.size()) + 1;
    Place(hash, id);
    if (2 * words_.size() > slots_.size()) Grow();
    return id;
  }
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  int64_t bytes() const { return bytes_; }
  // Every word followed by '\n', in id order.
  void Write(char* out) const {
    for (const auto& w : words_) {
      std::memcpy(out, w.data(), w.size());
      out += w.size();
      *out++ = '\n';
    }
  }

 private:
  struct Slot {
    int32_t id;
    uint32_t check;  // the hash's high half: most mismatches end without comparing words
  };
  static constexpr Slot kEmpty = {-1, 0};

  // FNV-1a, its bits mixed once more so that the low ones (the first slot) depend on every byte.
  static uint64_t Hash(std::string_view token) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : token) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
  }
  void Place(uint64_t hash, int32_t id) {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].id != kEmpty.id) i = (i + 1) & mask;
    slots_[i] = {id, static_cast<uint32_t>(hash >> 32)};
  }
  void Grow() {
    slots_.assign(2 * slots_.size(), kEmpty);
    for (size_t id = 0; id < words_.size(); ++id) Place(Hash(words_[id]), static_cast<int32_t>(id));
  }
  // A copy that never moves: words_ points into blocks that are only ever added.
  std::string_view Keep(std::string_view token) {
    if (token.size() > room_) {
      room_ = std::max(kBlock, token.size());
      blocks_.emplace_back(new char[room_]);
      next_ = blocks_.back().get();
    }
    char* at = next_;
    std::memcpy(at, token.data(), token.size());
    next_ += token.size();
    room_ -= token.size();
    return {at, token.size()};
  }

  static constexpr size_t kBlock = 1 << 20;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;  // where the current block's free bytes start
  size_t room_ = 0;       // and how many there are
  std::vector<std::string_view> words_;
  std::vector<Slot> slots_;
  int64_t bytes_ = 0;
};

bool Space(unsigned char c) { return (c >= 9 && c <= 13) || (c >= 28 && c <= 32); }
bool Alnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The end of the "words" token that starts at `i` (an alphanumeric byte) in [i, end).
size_t WordEnd(const char* text, size_t i, size_t end) {
  while (i < end && Alnum(text[i])) ++i;
  while (i + 1 < end && text[i] == '\'' && Alnum(text[i + 1])) {
    i += 1;
    while (i < end && Alnum(text[i])) ++i;
  }
  return i;
}

}  // namespace

extern "C" {

void* w2v_vocabulary_new() { return new Vocabulary(); }
void w2v_vocabulary_free(void* v) { delete static_cast<Vocabulary*>(v); }
int64_t w2v_vocabulary_size(void* v) { return static_cast<Vocabulary*>(v)->size(); }
int64_t w2v_vocabulary_bytes(void* v) { return static_cast<Vocabulary*>(v)->bytes(); }
void w2v_vocabulary_write(void* v, char* out) { static_cast<Vocabulary*>(v)->Write(out); }

// Tokenises ASCII `text` of `len` bytes, lines ended by '\n' (the last one may be not), into `out`: each
// line's token ids, then -1 after a line that has any. `text` is lowercased in place when `lowercase`.
// `out` must hold len + 1 values. Returns how many it wrote.
int64_t w2v_tokenize(void* v, char* text, int64_t len, int32_t words, int32_t lowercase, int32_t* out) {
  auto& vocabulary = *static_cast<Vocabulary*>(v);
  const auto n = static_cast<size_t>(len);
  if (lowercase) {
    for (size_t i = 0; i < n; ++i) {
      if (text[i] >= 'A' && text[i] <= 'Z') text[i] = static_cast<char>(text[i] + ('a' - 'A'));
    }
  }
  int64_t written = 0;
  bool line_has_tokens = false;
  for (size_t i = 0; i < n;) {
    const unsigned char c = text[i];
    if (c == '\n') {
      if (line_has_tokens) out[written++] = -1;
      line_has_tokens = false;
      ++i;
      continue;
    }
    size_t end;
    if (words) {
      if (!Alnum(c)) {
        ++i;
        continue;
      }
      end = WordEnd(text, i, n);
    } else {
      if (Space(c)) {
        ++i;
        continue;
      }
      end = i;
      while (end < n && !Space(text[end])) ++end;
    }
    out[written++] = vocabulary.Id(std::string_view(text + i, end - i));
    line_has_tokens = true;
    i = end;
  }
  if (line_has_tokens) out[written++] = -1;
  return written;
}

// The ids of `count` tokens given as UTF-8 bytes, token i being text[ends[i - 1]:ends[i]] (ends[-1] = 0).
void w2v_ids(void* v, const char* text, const int64_t* ends, int64_t count, int32_t* out) {
  auto& vocabulary = *static_cast<Vocabulary*>(v);
  int64_t start = 0;
  for (int64_t i = 0; i < count; ++i) {
    out[i] = vocabulary.Id(std::string_view(text + start, static_cast<size_t>(ends[i] - start)));
    start = ends[i];
  }
}

}  // extern "C"
