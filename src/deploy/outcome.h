// What became of one app server: its answer (push or check mode) mapped into the report's terms.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"
#include "deploy/files.h"
#include "pgbouncer/push.h"

namespace pgdeploy {

struct ServerReport {
  AppServer server;
  enum class Result { updated, unchanged, skipped_newer, failed };
  Result result = Result::failed;
  std::vector<std::string> changed;  // paths replaced
  bool reloaded = false;
  bool confirmed = false;  // PgBouncer's admin console showed the new routes after the reload
  std::string sessions;    // "cut" / "not cut: why" / "" (primary unchanged)
  std::string error;       // failed: "stage: detail"
  std::string newer;       // skipped_newer: the header of the newer config there
  std::string note;
  PgBouncerVersion
      pgbouncer_version;  // what the answer said runs there (a push's, a check's); unknown: nothing
  double seconds = 0;
  CheckAnswer check;  // in check mode: what the server answered (result unchanged, or failed);
                      // `changed` then lists the files a deploy would replace, and
  std::string diff;   // the include file's change as a unified diff ("" = none)
};

// Appends to a "; "-separated note.
void add_note(std::string* note, const std::string& more);

// The program's answer to a push.
void take_push_answer(const PushOutcome& answer, ServerReport* rep);

// The program's answer in check mode, against what a deploy would send: which files it would
// replace, and the diff of the include file (`include_path`, holding `include`). `force`: a newer
// token there would be written over.
void take_check_answer(const CheckAnswer& answer, const std::string& include_path, const std::string& include,
                       const Token& token, bool force, ServerReport* rep);

}  // namespace pgdeploy
