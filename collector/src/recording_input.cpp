#include "recording_input.h"

#include <iostream>
#include <stdexcept>
#include <unistd.h>

#include "store.h"

namespace hugeshim::collector {

void prepare_recording_for_reading(const std::string& file, const std::string& command) {
  if (access(file.c_str(), R_OK) != 0) throw std::runtime_error("cannot read " + file);
  if (const FileKind found = inspect_file(file); found.kind != FileKind::recording)
    throw RefusedFile(file + " is not a hugeshim recording (" +
                      (found.kind == FileKind::empty ? std::string("an empty file") : found.what) + ")");
  Database probe(file, Database::Mode::read_only);
  Statement table = probe.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'staged_batches'");
  bool pending = table.step() && table.int64(0) > 0;
  if (pending) {
    Statement staged = probe.prepare("SELECT EXISTS (SELECT 1 FROM staged_batches)");
    pending = staged.step() && staged.int64(0) > 0;
  }
  if (!pending) return;
  if (access(file.c_str(), W_OK) == 0) {
    Store store(file, /*replace=*/false);
    while (store.expand_staged_batch()) {
    }
  } else {
    std::cerr << "hugeshim " << command << ": " << file << " holds staged records not yet expanded (read-only file)\n";
  }
}

}  // namespace hugeshim::collector
