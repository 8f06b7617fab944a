// keel/state/journal_retention.cpp — see journal_retention.h.
#include "state/journal_retention.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "state/journal.h"

namespace keel::state {

namespace {

std::optional<JournalRecord> end_record(Store& store, const Principal& who, bool newest) {
  JournalFilter f;
  f.project = who.project;
  f.limit = 1;
  f.newest_first = newest;
  std::vector<JournalRecord> v = store.journal_query(who, f);
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

// A CHECKPOINT that took the place of the records it folded (journal.h): its
// records were exported by the pass that wrote it.
bool is_partial_checkpoint(const JournalRecord& r) {
  if (r.op != ops::kCheckpoint) return false;
  const std::optional<Checkpoint> c = checkpoint_from_payload(r.payload);
  return c && c->folded_through_seq == r.seq;
}

[[noreturn]] void fail_io(const std::string& what, const std::filesystem::path& p) {
  throw std::runtime_error("journal.retention: " + what + " " + p.string() + ": " +
                           std::strerror(errno));
}

void fsync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_io("cannot open", p);
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) fail_io("cannot fsync", p);
}

// Writes `text` to `path` durably: a temporary file, fsynced, renamed over
// `path`, then the directory fsynced.
void write_durably(const std::filesystem::path& path, const std::string& text, bool compress) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (compress) {
    gzFile gz = gzopen(tmp.c_str(), "wb6");
    if (gz == nullptr) fail_io("cannot create", tmp);
    std::size_t off = 0;
    bool ok = true;
    while (ok && off < text.size()) {
      const unsigned n = static_cast<unsigned>(std::min<std::size_t>(text.size() - off, 1 << 20));
      ok = gzwrite(gz, text.data() + off, n) == static_cast<int>(n);
      off += n;
    }
    if (gzclose(gz) != Z_OK || !ok) fail_io("cannot write", tmp);
  } else {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) fail_io("cannot write", tmp);
  }
  fsync_path(tmp, false);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    throw std::runtime_error("journal.retention: cannot rename " + tmp.string() + ": " +
                             ec.message());
  }
  fsync_path(path.parent_path(), true);
}

}  // namespace

std::string retention_export_name(std::string_view project, std::int64_t from,
                                  std::int64_t through, bool compress) {
  std::string name;
  for (const char ch : project) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    name += keep ? ch : '_';
  }
  return name + "-" + std::to_string(from) + "-" + std::to_string(through) +
         (compress ? ".jsonl.gz" : ".jsonl");
}

std::int64_t retention_cut(Store& store, const Principal& who, const RetentionOptions& options,
                           std::int64_t now_ms) {
  if (!options.enabled()) return 0;
  const std::optional<JournalRecord> head = end_record(store, who, true);
  if (!head) return 0;
  std::int64_t through = 0;
  if (options.max_records > 0) through = std::max<std::int64_t>(0, head->seq - options.max_records);
  if (options.max_age_ms > 0) {
    JournalFilter f;
    f.project = who.project;
    f.until_ms = now_ms - options.max_age_ms;
    f.limit = 1;
    const std::vector<JournalRecord> old = store.journal_query(who, f);
    if (!old.empty()) through = std::max(through, old.front().seq);
  }
  return std::min(through, head->seq - 1);  // never the head
}

RetentionReport run_retention_pass(Store& store, const Principal& who,
                                   const RetentionOptions& options, std::int64_t now_ms,
                                   const std::function<void()>& between_steps) {
  RetentionReport report;
  const std::int64_t cut = retention_cut(store, who, options, now_ms);
  if (cut <= 0) return report;
  if (!options.export_dir.empty()) std::filesystem::create_directories(options.export_dir);
  const std::int64_t batch = std::max<std::int64_t>(1, options.batch_records);
  for (;;) {
    const std::optional<JournalRecord> first = end_record(store, who, false);
    if (!first || first->seq >= cut) break;
    // The first record still to export: after this policy's own checkpoint.
    const std::int64_t from = first->seq + (is_partial_checkpoint(*first) ? 1 : 0);
    const std::int64_t through = std::min(cut, from + batch - 1);
    if (through < from) break;
    if (between_steps) between_steps();
    if (!options.export_dir.empty()) {
      // From the chain's start, not `from`: everything journal_compact folds
      // is exported, whatever project a record names (a SQLite file is one
      // chain), less this policy's own checkpoint.
      std::ostringstream out;
      std::int64_t n = store.journal_export(who, out, ExportRange{0, through});
      std::string lines = std::move(out).str();
      const std::size_t eol = lines.find('\n');
      if (eol != std::string::npos && is_partial_checkpoint(record_from_export_line(
                                          std::string_view(lines).substr(0, eol)))) {
        lines.erase(0, eol + 1);
        --n;
      }
      const std::int64_t exported_from =
          lines.empty() ? from : record_from_export_line(lines.substr(0, lines.find('\n'))).seq;
      const std::filesystem::path file =
          options.export_dir /
          retention_export_name(who.project, exported_from, through, options.compress);
      write_durably(file, lines, options.compress);
      report.exported_records += n;
      report.files.push_back(file);
    }
    const CompactReport c = store.journal_compact(who, CompactOptions{through});
    if (c.folded_records == 0) break;  // another pass got there first
    report.folded_records += c.folded_records;
    report.through_seq = through;
  }
  return report;
}

}  // namespace keel::state
