// keel/observe/metrics.h — a small metrics registry (counters, gauges, histograms with
// labels) rendered in the Prometheus text exposition format 0.0.4.
//
// The hot path (Family::with(...).inc()/observe()) is one striped mutex held for a hash
// lookup, then relaxed atomics; a cell, once made, lives as long as its registry (the
// reference with() returns stays valid). A family keeps at most kMaxSeries label sets;
// later new ones are all counted in one series whose every label value is "other" (so a
// client cannot grow the registry without bound by inventing tool or method names).
//
// Thread safety: everything here may be called from any number of threads at once,
// render() included. Families are made at setup, before concurrent use.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace keel::observe {

inline constexpr std::size_t kMaxSeries = 512;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending, finite (+Inf is implied).
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name and its series, one per label set.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase();
  const std::string& name() const { return name_; }
  // Appends HELP, TYPE and every series, sorted by label values.
  void render(std::string& out) const;

  // One label set's cell (a subclass per metric type, metrics.cpp).
  struct Series {
    std::vector<std::string> values;
    virtual ~Series() = default;
  };

 protected:
  // The series of `values` (as many as label names), made by `make` when new.
  Series& find(std::initializer_list<std::string_view> values, Series* (*make)(const FamilyBase&));
  virtual void render_series(std::string& out, const Series& s) const = 0;
  // `name{labels[,extra]} value\n`
  void sample(std::string& out, std::string_view suffix, const Series& s,
              std::string_view extra_label, std::string_view extra_value,
              std::string_view value) const;

 private:
  struct Stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<Series>> series;
  };
  static constexpr std::size_t kStripes = 8;
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  Stripe stripes_[kStripes];
  std::atomic<std::size_t> count_{0};
};

class CounterFamily final : public FamilyBase {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> labels)
      : FamilyBase(std::move(name), std::move(help), MetricType::kCounter, std::move(labels)) {}
  Counter& with(std::initializer_list<std::string_view> values);

 private:
  void render_series(std::string& out, const Series& s) const override;
};

class GaugeFamily final : public FamilyBase {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> labels)
      : FamilyBase(std::move(name), std::move(help), MetricType::kGauge, std::move(labels)) {}
  Gauge& with(std::initializer_list<std::string_view> values);

 private:
  void render_series(std::string& out, const Series& s) const override;
};

class HistogramFamily final : public FamilyBase {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> labels,
                  std::vector<double> bounds);
  Histogram& with(std::initializer_list<std::string_view> values);
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  void render_series(std::string& out, const Series& s) const override;
  std::vector<double> bounds_;
};

// The families of one process, rendered in the order they were added.
class Registry {
 public:
  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not
  // "le"), histogram bounds ascending and finite; else std::invalid_argument. A name
  // already added: std::invalid_argument.
  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(std::string name, std::string help, std::vector<std::string> labels,
                             std::vector<double> bounds);
  // The text exposition format 0.0.4 (Content-Type: kContentType).
  std::string render() const;

 private:
  void check_new(const std::string& name, const std::vector<std::string>& labels) const;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// The format's pieces, exposed for tests and the README.
std::string escape_label_value(std::string_view v);  // \ " and newline escaped
std::string escape_help(std::string_view v);         // \ and newline escaped
std::string format_value(double v);  // integers as integers; +Inf, -Inf, NaN; else shortest

}  // namespace keel::observe
