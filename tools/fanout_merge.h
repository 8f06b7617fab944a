// keel/tools/fanout_merge.h — how fanout_run turns its branches' values into
// one outcome: all, first_success, best_of_n (highest number at a JSON
// pointer), majority (plurality vote on the value at a JSON pointer, ties
// reported), quorum k (k successes, or k equal values at the pointer),
// priority (the value of the successful branch with the lowest `priority`,
// ties to the lowest index; a branch without one has priority 0).
//
// Memory: a Merger keeps O(1) state per strategy except majority/quorum with a
// pointer, which keep one counter per distinct vote (at most kMaxDistinctVotes;
// later distinct votes are counted in `other_votes`). It never keeps every
// branch value, so a 1,000,000-branch run merges in bounded memory.
//
// Thread safety: none; the engine calls a Merger under its run lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace keel::tools::fanout {

enum class Strategy { kAll, kFirstSuccess, kBestOfN, kMajority, kQuorum, kPriority };
std::optional<Strategy> strategy_from(std::string_view name);
std::string_view to_string(Strategy s);

struct MergeSpec {
  Strategy strategy = Strategy::kAll;
  std::string pointer;  // JSON pointer ("/score"); "" = the whole value
  int k = 0;            // quorum only, ≥ 1
};

class Merger {
 public:
  static constexpr std::size_t kMaxDistinctVotes = 10'000;

  explicit Merger(MergeSpec spec) : spec_(std::move(spec)) {}

  // Empty when `value` carries what the merge needs; otherwise why not (the
  // branch then fails with error class "parse").
  std::optional<std::string> check(const boost::json::value& value) const;

  // Records a successful branch (its value passed check()). Returns true when
  // the outcome is decided and the branches still running or queued can be
  // cancelled: first_success at its first success, quorum once reached.
  // `priority`: the branch's (priority merge only; lower wins).
  bool add_success(std::size_t index, const boost::json::value& value, std::int64_t priority = 0);

  // {strategy, satisfied, winner?, value?, score?, priority?, votes?, tie?,
  //  tied?, successes}. `total` is the run's branch count.
  boost::json::object finish(std::size_t total) const;
  std::optional<std::size_t> winner() const;
  bool decided() const { return decided_; }

 private:
  struct Vote {
    std::size_t count = 0;
    std::size_t first_index = 0;
    boost::json::value value;
  };
  const boost::json::value* at_pointer(const boost::json::value& v) const;

  MergeSpec spec_;
  std::size_t successes_ = 0;
  bool decided_ = false;
  std::optional<std::size_t> first_;  // first_success: the first to succeed
  boost::json::value first_value_;
  std::optional<std::size_t> best_;   // best_of_n, priority
  double best_score_ = 0;
  std::int64_t best_priority_ = 0;    // priority
  boost::json::value best_value_;
  std::map<std::string, Vote> votes_;  // serialized vote → tally
  std::size_t other_votes_ = 0;        // votes beyond kMaxDistinctVotes values
  std::optional<std::size_t> quorum_index_;  // the branch that completed the quorum
  boost::json::value quorum_value_;
};

}  // namespace keel::tools::fanout
