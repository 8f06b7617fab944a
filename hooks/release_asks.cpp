// release_asks.cpp — see release_asks.h.
#include "hooks/release_asks.h"

#include <sys/stat.h>

#include <algorithm>
#include <string_view>

#include "state/store_common.h"

namespace keel::hooks {

namespace {

// `s` on one line, cut at `max` bytes without splitting a UTF-8 sequence.
std::string one_line(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max) + 3);
  std::size_t end = s.size();
  if (end > max) {
    end = max;
    // Back up over continuation bytes (10xxxxxx) to the start of the cut sequence.
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  }
  for (std::size_t i = 0; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c);
  }
  if (end < s.size()) out += "...";
  return out;
}

}  // namespace

bool release_asks_pending(const std::filesystem::path& state_dir, const state::Principal& who) {
  if (state_dir.empty()) return false;
  const std::filesystem::path marker =
      state::store_common::release_ask_marker_path(state_dir, who.project, who.agent);
  struct stat st{};
  return ::stat(marker.c_str(), &st) == 0;
}

std::string take_release_ask_context(state::Store& store, const state::Principal& who) {
  return release_ask_text(store.take_release_asks(who));
}

std::string release_ask_text(const std::vector<state::ReleaseAsk>& asks) {
  std::string out;
  std::size_t shown = 0;
  for (const state::ReleaseAsk& a : asks) {
    if (shown == kMaxAsksShown) break;
    if (!out.empty()) out += '\n';
    out += "keel: agent " + one_line(a.asker, 256) + " waits for " + one_line(a.name, 1024) + ": " +
           one_line(a.reason, kMaxAskReasonChars) +
           " — release it with lease_release, or lease_renew it if you need it longer.";
    ++shown;
  }
  if (asks.size() > shown) {
    out += "\nkeel: " + std::to_string(asks.size() - shown) +
           " more release asks for your leases (lease_list shows them).";
  }
  return out;
}

}  // namespace keel::hooks
