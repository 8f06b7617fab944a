// Unified diff: common prefix/suffix, LCS on the middle, hunks with context.
#include "cli/settings_diff.h"

#include <algorithm>
#include <vector>

namespace keel::cli {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

enum class Op { Same, Del, Add };

struct Edit {
  Op op;
  std::string_view line;
};

constexpr std::size_t kMaxLcsCells = 4'000'000;

// Edit script for a[ab..ae) -> b[bb..be) by longest common subsequence.
void diff_middle(const std::vector<std::string_view>& a, std::size_t ab, std::size_t ae,
                 const std::vector<std::string_view>& b, std::size_t bb, std::size_t be,
                 std::vector<Edit>& out) {
  std::size_t n = ae - ab, m = be - bb;
  if (n == 0 || m == 0 || n * m > kMaxLcsCells) {
    for (std::size_t i = ab; i < ae; ++i) out.push_back({Op::Del, a[i]});
    for (std::size_t j = bb; j < be; ++j) out.push_back({Op::Add, b[j]});
    return;
  }
  // lcs[i][j] = LCS length of a[ab+i..ae) and b[bb+j..be).
  std::vector<unsigned> lcs((n + 1) * (m + 1), 0);
  auto at = [&](std::size_t i, std::size_t j) -> unsigned& { return lcs[i * (m + 1) + j]; };
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      at(i, j) = a[ab + i] == b[bb + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  std::size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[ab + i] == b[bb + j]) {
      out.push_back({Op::Same, a[ab + i]});
      ++i, ++j;
    } else if (at(i + 1, j) >= at(i, j + 1)) {
      out.push_back({Op::Del, a[ab + i++]});
    } else {
      out.push_back({Op::Add, b[bb + j++]});
    }
  }
  for (; i < n; ++i) out.push_back({Op::Del, a[ab + i]});
  for (; j < m; ++j) out.push_back({Op::Add, b[bb + j]});
}

}  // namespace

std::string unified_diff(std::string_view before, std::string_view after, std::string_view label_before,
                         std::string_view label_after, std::size_t context) {
  if (before == after) return {};
  auto a = split_lines(before);
  auto b = split_lines(after);
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Edit> edits;
  for (std::size_t i = 0; i < prefix; ++i) edits.push_back({Op::Same, a[i]});
  diff_middle(a, prefix, a.size() - suffix, b, prefix, b.size() - suffix, edits);
  for (std::size_t i = a.size() - suffix; i < a.size(); ++i) edits.push_back({Op::Same, a[i]});

  std::string out = "--- " + std::string(label_before) + "\n+++ " + std::string(label_after) + "\n";
  bool any_change = false;
  std::size_t k = 0;
  while (k < edits.size()) {
    while (k < edits.size() && edits[k].op == Op::Same) ++k;
    if (k == edits.size()) break;
    any_change = true;
    // A hunk: from `context` lines before this change to `context` lines after
    // the last change that is at most 2*context equal lines from the previous.
    std::size_t start = k > context ? k - context : 0;
    std::size_t end = k;
    while (end < edits.size()) {
      while (end < edits.size() && edits[end].op != Op::Same) ++end;
      std::size_t same = 0;
      while (end + same < edits.size() && edits[end + same].op == Op::Same) ++same;
      if (end + same < edits.size() && same <= 2 * context) {
        end += same;
        continue;
      }
      end = std::min(edits.size(), end + context);
      break;
    }
    std::size_t old_line = 1, new_line = 1;
    for (std::size_t e = 0; e < start; ++e) {
      if (edits[e].op != Op::Add) ++old_line;
      if (edits[e].op != Op::Del) ++new_line;
    }
    std::size_t old_count = 0, new_count = 0;
    std::string body;
    for (std::size_t e = start; e < end; ++e) {
      char mark = edits[e].op == Op::Same ? ' ' : edits[e].op == Op::Del ? '-' : '+';
      if (edits[e].op != Op::Add) ++old_count;
      if (edits[e].op != Op::Del) ++new_count;
      body += mark;
      body += edits[e].line;
      body += '\n';
    }
    out += "@@ -" + std::to_string(old_count ? old_line : old_line - 1) + "," + std::to_string(old_count) +
           " +" + std::to_string(new_count ? new_line : new_line - 1) + "," + std::to_string(new_count) +
           " @@\n" + body;
    k = end;
  }
  // Only the final newline differs: say so rather than print an empty hunk.
  if (!any_change) out += "\\ only the final newline differs\n";
  return out;
}

}  // namespace keel::cli
