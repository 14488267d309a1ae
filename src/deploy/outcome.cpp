#include "deploy/outcome.h"

#include <algorithm>

#include "util/diff.h"

namespace pgdeploy {

void add_note(std::string* note, const std::string& more) { *note += (note->empty() ? "" : "; ") + more; }

void take_push_answer(const PushOutcome& o, ServerReport* rep) {
  rep->changed = o.changed;
  rep->reloaded = o.reloaded;
  rep->sessions = o.sessions;
  rep->confirmed = o.confirmed;
  rep->pgbouncer_version = o.pgbouncer_version;
  for (const auto& n : o.notes) add_note(&rep->note, n);
  switch (o.status) {
    case PushOutcome::Status::written:
      rep->result = ServerReport::Result::updated;
      break;
    case PushOutcome::Status::unchanged:
      rep->result = ServerReport::Result::unchanged;
      break;
    case PushOutcome::Status::skipped_newer:
      rep->result = ServerReport::Result::skipped_newer;
      rep->newer = o.newer;
      break;
    case PushOutcome::Status::failed:
      rep->result = ServerReport::Result::failed;
      rep->error = "remote: " + o.detail;
      break;
  }
}

void take_check_answer(const CheckAnswer& a, const std::string& include_path, const std::string& include,
                       const Token& token, bool force, ServerReport* rep) {
  rep->check = a;
  rep->pgbouncer_version = a.pgbouncer_version;
  rep->result = a.ok ? ServerReport::Result::unchanged : ServerReport::Result::failed;
  if (!a.ok) rep->error = "remote: " + a.error;
  for (const auto& n : a.notes) add_note(&rep->note, n);
  // A newer token there: a deploy would leave the server alone (push.pl's NEWER).
  bool newer = a.has_header && !force &&
               (a.header_timeline > token.timeline ||
                (a.header_timeline == token.timeline && a.header_generation > token.generation));
  if (newer)
    add_note(&rep->note, "a newer config is there (primary " + std::to_string(a.header_primary) +
                             ", timeline " + std::to_string(a.header_timeline) +
                             "): a deploy would leave it alone");
  for (const auto& f : a.files)
    if (f.state != "current" && !newer) rep->changed.push_back(f.path);
  if (a.ok && std::find(rep->changed.begin(), rep->changed.end(), include_path) != rep->changed.end())
    rep->diff = unified_diff(a.include, include, rep->server.address + ":" + include_path,
                             include_path + " (as a deploy would write it)");
}

}  // namespace pgdeploy
