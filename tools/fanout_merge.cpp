#include "tools/fanout_merge.h"

#include <algorithm>
#include <vector>

#include <boost/json.hpp>

namespace keel::tools::fanout {

namespace json = boost::json;

std::optional<Strategy> strategy_from(std::string_view name) {
  if (name == "all") return Strategy::kAll;
  if (name == "first_success") return Strategy::kFirstSuccess;
  if (name == "best_of_n") return Strategy::kBestOfN;
  if (name == "majority") return Strategy::kMajority;
  if (name == "quorum") return Strategy::kQuorum;
  if (name == "priority") return Strategy::kPriority;
  return std::nullopt;
}

std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::kAll: return "all";
    case Strategy::kFirstSuccess: return "first_success";
    case Strategy::kBestOfN: return "best_of_n";
    case Strategy::kMajority: return "majority";
    case Strategy::kQuorum: return "quorum";
    case Strategy::kPriority: return "priority";
  }
  return "all";
}

const json::value* Merger::at_pointer(const json::value& v) const {
  if (spec_.pointer.empty()) return &v;
  boost::system::error_code ec;
  const json::value* found = v.find_pointer(spec_.pointer, ec);
  return ec ? nullptr : found;
}

namespace {
bool uses_votes(const MergeSpec& spec) {
  return spec.strategy == Strategy::kMajority ||
         (spec.strategy == Strategy::kQuorum && !spec.pointer.empty());
}
}  // namespace

std::optional<std::string> Merger::check(const json::value& value) const {
  if (spec_.strategy == Strategy::kBestOfN) {
    const json::value* score = at_pointer(value);
    if (!score) return "no value at " + spec_.pointer + " to score";
    if (!score->is_number()) return "the value at " + spec_.pointer + " is not a number";
  } else if (uses_votes(spec_)) {
    if (!at_pointer(value)) return "no value at " + spec_.pointer + " to vote with";
  }
  return std::nullopt;
}

bool Merger::add_success(std::size_t index, const json::value& value, std::int64_t priority) {
  ++successes_;
  switch (spec_.strategy) {
    case Strategy::kAll:
      break;
    case Strategy::kPriority:
      // Ties go to the lowest index: the outcome does not depend on
      // completion order.
      if (!best_ || priority < best_priority_ || (priority == best_priority_ && index < *best_)) {
        best_ = index;
        best_priority_ = priority;
        best_value_ = value;
      }
      break;
    case Strategy::kFirstSuccess:
      if (!first_) {
        first_ = index;
        first_value_ = value;
        decided_ = true;
      }
      break;
    case Strategy::kBestOfN: {
      const double score = at_pointer(value)->to_number<double>();
      // Ties go to the lowest branch index, so the outcome does not depend on
      // completion order.
      if (!best_ || score > best_score_ || (score == best_score_ && index < *best_)) {
        best_ = index;
        best_score_ = score;
        best_value_ = value;
      }
      break;
    }
    case Strategy::kMajority:
    case Strategy::kQuorum: {
      if (!uses_votes(spec_)) {  // quorum without a pointer: k successes
        if (!decided_ && successes_ >= static_cast<std::size_t>(spec_.k)) {
          decided_ = true;
          quorum_index_ = index;
        }
        break;
      }
      const json::value& vote = *at_pointer(value);
      std::string key = json::serialize(vote);
      auto it = votes_.find(key);
      if (it == votes_.end()) {
        if (votes_.size() >= kMaxDistinctVotes) {
          ++other_votes_;
          break;
        }
        it = votes_.emplace(std::move(key), Vote{0, index, vote}).first;
      }
      ++it->second.count;
      it->second.first_index = std::min(it->second.first_index, index);
      if (spec_.strategy == Strategy::kQuorum && !decided_ &&
          it->second.count >= static_cast<std::size_t>(spec_.k)) {
        decided_ = true;
        quorum_index_ = index;
        quorum_value_ = vote;
      }
      break;
    }
  }
  return decided_;
}

std::optional<std::size_t> Merger::winner() const {
  switch (spec_.strategy) {
    case Strategy::kAll: return std::nullopt;
    case Strategy::kFirstSuccess: return first_;
    case Strategy::kBestOfN:
    case Strategy::kPriority: return best_;
    case Strategy::kQuorum: return quorum_index_;
    case Strategy::kMajority: {
      const Vote* top = nullptr;
      bool tie = false;
      for (const auto& [k, v] : votes_) {
        if (!top || v.count > top->count) {
          top = &v;
          tie = false;
        } else if (v.count == top->count) {
          tie = true;
        }
      }
      if (!top || tie) return std::nullopt;
      return top->first_index;
    }
  }
  return std::nullopt;
}

json::object Merger::finish(std::size_t total) const {
  json::object out{{"strategy", to_string(spec_.strategy)}, {"successes", successes_}};
  if (!spec_.pointer.empty()) out["pointer"] = spec_.pointer;
  bool satisfied = false;
  switch (spec_.strategy) {
    case Strategy::kAll:
      satisfied = successes_ == total;
      break;
    case Strategy::kFirstSuccess:
      satisfied = first_.has_value();
      if (first_) {
        out["winner"] = *first_;
        out["value"] = first_value_;
      }
      break;
    case Strategy::kBestOfN:
      satisfied = best_.has_value();
      if (best_) {
        out["winner"] = *best_;
        out["score"] = best_score_;
        out["value"] = best_value_;
      }
      break;
    case Strategy::kPriority:
      satisfied = best_.has_value();
      if (best_) {
        out["winner"] = *best_;
        out["priority"] = best_priority_;
        out["value"] = best_value_;
      }
      break;
    case Strategy::kQuorum:
      out["k"] = spec_.k;
      satisfied = decided_;
      if (quorum_index_) out["winner"] = *quorum_index_;
      if (decided_ && uses_votes(spec_)) out["value"] = quorum_value_;
      break;
    case Strategy::kMajority: {
      std::vector<const Vote*> tally;
      for (const auto& [k, v] : votes_) tally.push_back(&v);
      std::sort(tally.begin(), tally.end(), [](const Vote* a, const Vote* b) {
        return a->count != b->count ? a->count > b->count : a->first_index < b->first_index;
      });
      json::array votes;
      for (std::size_t i = 0; i < tally.size() && i < 20; ++i) {
        votes.push_back(json::object{{"value", tally[i]->value}, {"count", tally[i]->count}});
      }
      out["votes"] = std::move(votes);
      out["distinct_votes"] = tally.size();
      if (other_votes_) out["other_votes"] = other_votes_;
      if (tally.empty()) break;
      const std::size_t top = tally.front()->count;
      json::array tied;
      for (const Vote* v : tally) {
        if (v->count == top) tied.push_back(v->value);
      }
      if (tied.size() > 1) {
        out["tie"] = true;
        out["tied"] = std::move(tied);
        break;  // no winner: the tie is the outcome
      }
      satisfied = true;
      out["tie"] = false;
      out["winner"] = tally.front()->first_index;
      out["value"] = tally.front()->value;
      out["count"] = top;
      // A strict majority of every branch of the run, not only the successes.
      out["absolute_majority"] = top * 2 > total;
      break;
    }
  }
  out["satisfied"] = satisfied;
  return out;
}

}  // namespace keel::tools::fanout
