// A thin RAII layer over the SQLite C API: a connection and prepared
// statements with positional binding. A Database is used by one thread. Errors throw std::runtime_error with
// SQLite's message.
#pragma once

#include <cstdint>
#include <sqlite3.h>
#include <string>
#include <string_view>

namespace hugeshim::collector {

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, uint64_t value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, int32_t value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, uint32_t value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind_null(int index);
  Statement& bind_blob(int index, const void* data, size_t size);
  // A blob that outlives the statement's next step: bound without a copy.
  Statement& bind_blob_static(int index, const void* data, size_t size);
  // Text that outlives the statement's next reset (string literals, names
  // from the event tables): bound without a copy.
  Statement& bind_static(int index, std::string_view text);

  // Steps once; true while a row is available.
  bool step();
  // Steps to completion and resets for the next bind.
  void run();
  void reset();

  int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string text(int column) const;
  std::string blob(int column) const;
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_;
};

class Database {
 public:
  enum class Mode { read_only, read_write };
  Database(const std::string& path, Mode mode);
  Database(const Database&) = delete;
  ~Database();

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(db_, sql); }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace hugeshim::collector
