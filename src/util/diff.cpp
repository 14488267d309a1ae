#include "util/diff.h"

#include <algorithm>
#include <vector>

namespace pgdeploy {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return lines;
}

struct Edit {
  char op;  // ' ', '-', '+'
  const std::string* line;
};

// The edit script between a[lo..ha) and b[lo..hb) by the longest common subsequence.
void middle(const std::vector<std::string>& a, const std::vector<std::string>& b, size_t lo, size_t ha,
            size_t hb, std::vector<Edit>* out) {
  size_t n = ha - lo, m = hb - lo;
  if (n * m > 4'000'000) {
    for (size_t i = lo; i < ha; ++i) out->push_back({'-', &a[i]});
    for (size_t j = lo; j < hb; ++j) out->push_back({'+', &b[j]});
    return;
  }
  std::vector<unsigned> len((n + 1) * (m + 1), 0);  // len[i][j]: LCS of a[i..], b[j..]
  auto at = [&](size_t i, size_t j) -> unsigned& { return len[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      at(i, j) = a[lo + i] == b[lo + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[lo + i] == b[lo + j]) out->push_back({' ', &a[lo + i++]}), ++j;
    else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) out->push_back({'-', &a[lo + i++]});
    else out->push_back({'+', &b[lo + j++]});  // removals first, as diff -u prints them
  }
}

std::string range(size_t start, size_t count) {
  // diff -u numbers lines from 1; an empty range names the line before it.
  std::string s = std::to_string(count ? start + 1 : start);
  return count == 1 ? s : s + "," + std::to_string(count);
}

}  // namespace

std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_name,
                         const std::string& after_name, int context) {
  if (before == after) return "";
  std::vector<std::string> a = lines_of(before), b = lines_of(after);
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head && a[a.size() - 1 - tail] == b[b.size() - 1 - tail])
    ++tail;
  std::vector<Edit> edits;
  for (size_t i = 0; i < head; ++i) edits.push_back({' ', &a[i]});
  middle(a, b, head, a.size() - tail, b.size() - tail, &edits);
  for (size_t i = a.size() - tail; i < a.size(); ++i) edits.push_back({' ', &a[i]});

  std::string out = "--- " + before_name + "\n+++ " + after_name + "\n";
  size_t ctx = static_cast<size_t>(std::max(0, context));
  size_t k = 0;
  while (k < edits.size()) {
    if (edits[k].op == ' ') {
      ++k;
      continue;
    }
    // A hunk: from `ctx` lines before this change to `ctx` lines after the last change that is
    // at most 2 * ctx unchanged lines away from the one before it.
    size_t start = k >= ctx ? k - ctx : 0, end = k;
    for (size_t gap = 0; end < edits.size() && gap <= 2 * ctx; ++end)
      gap = edits[end].op == ' ' ? gap + 1 : 0;
    while (end > k && edits[end - 1].op == ' ') --end;
    end = std::min(edits.size(), end + ctx);
    size_t a_line = 0, b_line = 0;
    for (size_t e = 0; e < start; ++e) {
      if (edits[e].op != '+') ++a_line;
      if (edits[e].op != '-') ++b_line;
    }
    size_t a_count = 0, b_count = 0;
    std::string body;
    for (size_t e = start; e < end; ++e) {
      if (edits[e].op != '+') ++a_count;
      if (edits[e].op != '-') ++b_count;
      body += edits[e].op + *edits[e].line;
      if (body.back() != '\n') body += "\n\\ No newline at end of file\n";
    }
    out += "@@ -" + range(a_line, a_count) + " +" + range(b_line, b_count) + " @@\n" + body;
    k = end;
  }
  return out;
}

}  // namespace pgdeploy
