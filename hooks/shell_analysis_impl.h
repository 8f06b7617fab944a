// shell_analysis_impl.h — what pass 2's files (shell_analysis.cpp and the per-family analysers
// it dispatches to) share. Not a public API; pass 1's internals are in shell_parser_impl.h.
#pragma once

#include "hooks/code_scan.h"
#include "hooks/shell_parser_impl.h"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks::detail {

inline Command& cmd_at(Ctx& c, int i) { return c.out.commands[static_cast<std::size_t>(i)]; }

// shell_analysis_common.cpp
bool one_of(std::string_view x, std::initializer_list<std::string_view> l);
std::size_t skip_opts(const std::vector<Word>& a, std::size_t k, std::string_view argopts);
std::string join_raw(const std::vector<Word>& a, std::size_t from, std::size_t to = std::string::npos);
std::string join_quoted(const std::vector<Word>& a, std::size_t from);
bool is_shell(std::string_view n);
bool is_python(std::string_view n);
bool is_fetcher(std::string_view n);
void push_synthetic(Ctx& c, int parent, std::vector<Word> argv, Origin origin, bool stdin_operands);
Word literal_word(std::string t, bool resolved = true);
bool literal_output(const Command& up, std::string& text);
std::string norm_path(std::string_view p);
void dynamic_finding(Ctx& c, int ci, const Word& w, const std::string& what);
bool init_idiom(std::string_view src);
bool is_stdin_path(const Word& w);
bool is_fd_path(const Word& w);
// What program text a shell/interpreter reading stdin gets. On Unknown the finding is recorded.
enum class Stdin { None, Text, Unknown };
Stdin stdin_code(Ctx& c, int ci, std::string& text, Origin& origin, const std::string& what);
void apply_code(Ctx& c, int ci, std::string_view code, CodeLang lang);

// shell_analysis.cpp: runs a file written earlier in the line (lang null: as a shell script).
bool run_written(Ctx& c, int ci, const std::string& path, const CodeLang* lang);

// shell_unwrap.cpp: the index where the command wrapped by argv[0] starts (0: none).
std::size_t unwrap_one(Ctx& c, int ci, const std::string& nm);

// shell_tool_escapes.cpp
void normalise_git(Ctx& c, int ci);
void git_subcommand_code(Ctx& c, int ci);
void handle_exec_options(Ctx& c, int ci, std::initializer_list<std::string_view> opts,
                         std::initializer_list<std::string_view> ends, std::string_view operand_marker);
void handle_tar(Ctx& c, int ci);
void handle_sed(Ctx& c, int ci);
void handle_db(Ctx& c, int ci);

// shell_code_runners.cpp
void handle_shell(Ctx& c, int ci);
void handle_source(Ctx& c, int ci);
void handle_eval(Ctx& c, int ci);
void handle_interpreter(Ctx& c, int ci, CodeLang lang);

}  // namespace keel::hooks::detail
