#include "sqlite_db.h"

#include <stdexcept>

namespace hugeshim::collector {
namespace {

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw std::runtime_error(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
    fail(db, "SQL prepare failed");
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "SQL bind failed");
  return *this;
}

Statement& Statement::bind_static(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) != SQLITE_OK)
    fail(db_, "SQL bind failed");
  return *this;
}

Statement& Statement::bind_blob(int index, const void* data, size_t size) {
  if (sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_TRANSIENT) != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

Statement& Statement::bind_blob_static(int index, const void* data, size_t size) {
  if (sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_STATIC) != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

std::string Statement::blob(int column) const {
  const void* b = sqlite3_column_blob(stmt_, column);
  return b ? std::string(static_cast<const char*>(b), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
           : std::string();
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) fail(db_, "SQL bind failed");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "SQL step failed");
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

// Bindings stay: every caller binds each parameter before the next step.
void Statement::reset() { sqlite3_reset(stmt_); }

std::string Statement::text(int column) const {
  const unsigned char* t = sqlite3_column_text(stmt_, column);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
           : std::string();
}

Database::Database(const std::string& path, Mode mode) {
  // One connection per thread: no SQLite mutexes on the insert path.
  int flags = SQLITE_OPEN_NOMUTEX |
              (mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = "cannot open " + path;
    sqlite3* db = db_;
    db_ = nullptr;
    std::string detail = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error(msg + ": " + detail);
  }
  sqlite3_busy_timeout(db_, 5000);
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("SQL failed: " + msg);
  }
}

}  // namespace hugeshim::collector
