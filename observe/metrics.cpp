// keel/observe/metrics.cpp — the registry and the text exposition format (metrics.h).
#include "observe/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

namespace keel::observe {

// ------------------------------------------------------------------ format pieces

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

namespace {

bool valid_name(std::string_view s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                       (colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// The map key of a label set: the values joined by NUL, in a per-thread buffer.
const std::string& series_key(std::initializer_list<std::string_view> values) {
  thread_local std::string key;
  key.clear();
  for (std::string_view v : values) {
    key.append(v);
    key.push_back('\0');
  }
  return key;
}

}  // namespace

// ------------------------------------------------------------------ histogram

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;  // le: v <= bound
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ------------------------------------------------------------------ families

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

FamilyBase::~FamilyBase() = default;

FamilyBase::Series& FamilyBase::find(std::initializer_list<std::string_view> values,
                                     Series* (*make)(const FamilyBase&)) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument(name_ + ": " + std::to_string(label_names_.size()) +
                                " label values expected");
  }
  const std::string& key = series_key(values);
  Stripe& stripe = stripes_[std::hash<std::string>{}(key) % kStripes];
  {
    std::lock_guard lock(stripe.mu);
    auto it = stripe.series.find(key);
    if (it != stripe.series.end()) return *it->second;
    if (count_.load(std::memory_order_relaxed) < kMaxSeries) {
      ++count_;
      std::unique_ptr<Series> s(make(*this));
      s->values.assign(values.begin(), values.end());
      return *stripe.series.emplace(key, std::move(s)).first->second;
    }
  }
  // Over the cap: the one "other" series.
  std::vector<std::string_view> other(label_names_.size(), "other");
  std::string other_key;
  for (std::string_view v : other) {
    other_key.append(v);
    other_key.push_back('\0');
  }
  Stripe& os = stripes_[std::hash<std::string>{}(other_key) % kStripes];
  std::lock_guard lock(os.mu);
  auto it = os.series.find(other_key);
  if (it != os.series.end()) return *it->second;
  std::unique_ptr<Series> s(make(*this));
  s->values.assign(other.begin(), other.end());
  return *os.series.emplace(other_key, std::move(s)).first->second;
}

void FamilyBase::sample(std::string& out, std::string_view suffix, const Series& s,
                        std::string_view extra_label, std::string_view extra_value,
                        std::string_view value) const {
  out += name_;
  out += suffix;
  if (!label_names_.empty() || !extra_label.empty()) {
    out += '{';
    bool first = true;
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
      if (!first) out += ',';
      first = false;
      out += label_names_[i];
      out += "=\"";
      out += escape_label_value(s.values[i]);
      out += '"';
    }
    if (!extra_label.empty()) {
      if (!first) out += ',';
      out += extra_label;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

void FamilyBase::render(std::string& out) const {
  out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
  out += "# TYPE " + name_ + " " + std::string(type_name(type_)) + "\n";
  std::vector<const Series*> all;
  for (const Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mu);
    for (const auto& [key, s] : stripe.series) all.push_back(s.get());
  }
  std::sort(all.begin(), all.end(),
            [](const Series* a, const Series* b) { return a->values < b->values; });
  for (const Series* s : all) render_series(out, *s);
}

namespace {
struct CounterSeries : FamilyBase::Series {
  Counter c;
};
struct GaugeSeries : FamilyBase::Series {
  Gauge g;
};
struct HistogramSeries : FamilyBase::Series {
  explicit HistogramSeries(const std::vector<double>& b) : h(b) {}
  Histogram h;
};
}  // namespace

Counter& CounterFamily::with(std::initializer_list<std::string_view> values) {
  return static_cast<CounterSeries&>(
             find(values, [](const FamilyBase&) -> Series* { return new CounterSeries; }))
      .c;
}

void CounterFamily::render_series(std::string& out, const Series& s) const {
  sample(out, "", s, {}, {}, std::to_string(static_cast<const CounterSeries&>(s).c.value()));
}

Gauge& GaugeFamily::with(std::initializer_list<std::string_view> values) {
  return static_cast<GaugeSeries&>(
             find(values, [](const FamilyBase&) -> Series* { return new GaugeSeries; }))
      .g;
}

void GaugeFamily::render_series(std::string& out, const Series& s) const {
  sample(out, "", s, {}, {}, format_value(static_cast<const GaugeSeries&>(s).g.value()));
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> labels, std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), MetricType::kHistogram, std::move(labels)),
      bounds_(std::move(bounds)) {}

Histogram& HistogramFamily::with(std::initializer_list<std::string_view> values) {
  return static_cast<HistogramSeries&>(
             find(values,
                  [](const FamilyBase& f) -> Series* {
                    return new HistogramSeries(static_cast<const HistogramFamily&>(f).bounds_);
                  }))
      .h;
}

void HistogramFamily::render_series(std::string& out, const Series& s) const {
  const Histogram::Snapshot snap = static_cast<const HistogramSeries&>(s).h.snapshot();
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    sample(out, "_bucket", s, "le", format_value(bounds_[i]), std::to_string(snap.cumulative[i]));
  }
  const std::string count = std::to_string(snap.cumulative.back());
  sample(out, "_bucket", s, "le", "+Inf", count);
  sample(out, "_sum", s, {}, {}, format_value(snap.sum));
  sample(out, "_count", s, {}, {}, count);
}

// ------------------------------------------------------------------ registry

void Registry::check_new(const std::string& name, const std::vector<std::string>& labels) const {
  if (!valid_name(name, true)) throw std::invalid_argument("bad metric name: " + name);
  for (const auto& l : labels) {
    if (!valid_name(l, false) || l == "le" || l.rfind("__", 0) == 0) {
      throw std::invalid_argument(name + ": bad label name: " + l);
    }
  }
  for (const auto& f : families_) {
    if (f->name() == name) throw std::invalid_argument("metric added twice: " + name);
  }
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  check_new(name, labels);
  auto f = std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(labels));
  CounterFamily& r = *f;
  families_.push_back(std::move(f));
  return r;
}

GaugeFamily& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  check_new(name, labels);
  auto f = std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(labels));
  GaugeFamily& r = *f;
  families_.push_back(std::move(f));
  return r;
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  check_new(name, labels);
  if (bounds.empty()) throw std::invalid_argument(name + ": a histogram needs bounds");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      throw std::invalid_argument(name + ": bounds must be finite and ascending");
    }
  }
  auto f = std::make_unique<HistogramFamily>(std::move(name), std::move(help), std::move(labels),
                                             std::move(bounds));
  HistogramFamily& r = *f;
  families_.push_back(std::move(f));
  return r;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace keel::observe
