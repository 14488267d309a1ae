#include "report/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "report/exit_codes.h"
#include "util/text.h"

namespace pgdeploy {
namespace {

const char* result_name(ServerReport::Result r) {
  switch (r) {
    case ServerReport::Result::updated:
      return "updated";
    case ServerReport::Result::unchanged:
      return "unchanged";
    case ServerReport::Result::skipped_newer:
      return "skipped";
    case ServerReport::Result::failed:
      return "failed";
  }
  return "?";
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// One line of the text report. Names, addresses and errors come from the database, an app server
// or the command line: escaped (util/text) as the line is written, so that no value can end it and
// start a line of its own; the data (and the JSON) keep them as they are.
std::string line(const std::string& text) { return escape_text(text) + "\n"; }

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Users named, never their secrets: "users added: a, b; changed: c".
std::string user_changes(const CheckAnswer& a) {
  std::string out;
  auto add = [&out](const char* what, const std::vector<std::string>& list) {
    if (!list.empty()) out += std::string(out.empty() ? "users " : "; ") + what + ": " + names(list);
  };
  add("added", a.users_added);
  add("removed", a.users_removed);
  add("changed", a.users_changed);
  return out;
}

std::string format_dry_run(const RunReport& r) {
  std::string out;
  int change = 0, current = 0, failed = 0;
  for (const auto& s : r.servers) {
    std::string head = server_label(s.server) + ": ";
    if (s.result == ServerReport::Result::failed) {
      out += line(head + "cannot tell what a deploy would change: " + s.error);
      ++failed;
      continue;
    }
    std::vector<std::string> files;
    for (const auto& p : s.changed) files.push_back(base_name(p));
    std::string users = user_changes(s.check);
    if (files.empty() && s.check.pending.empty()) {
      out += line(head + "up to date: a deploy would change nothing" +
                  (s.note.empty() ? "" : " (" + s.note + ")"));
      ++current;
      continue;
    }
    ++change;
    head += files.empty() ? std::string("a deploy would only redo a pending reload")
                          : "a deploy would replace " + names(files);
    if (!users.empty()) head += " (" + users + ")";
    if (!s.check.pending.empty()) head += "; a reload is pending (" + s.check.pending + ")";
    // The diff's lines are its own; what they quote of the include file there (an app server's
    // bytes: terminal escapes, carriage returns) is escaped within each.
    out += line(head) + escape_lines(s.diff);
  }
  return out + line("pgdeploy: dry run, nothing written: a deploy would change " + std::to_string(change) +
                    " of " + std::to_string(r.servers.size()) + " app servers, " + std::to_string(current) +
                    " up to date" + (failed ? ", " + std::to_string(failed) + " could not be asked" : "") +
                    " (" + seconds_text(r.seconds) + ")");
}

}  // namespace

std::string server_label(const AppServer& s) {
  std::string label = s.name.empty() ? s.address : s.name + " " + s.address;
  return s.application_name.empty() ? label : label + " (" + s.application_name + ")";
}

int exit_code(const RunReport& r) {
  if (!r.refusal.empty()) return r.handed_over.empty() ? kExitRefused : kExitHandedOver;
  if (!r.newer_truth.empty()) return kExitNewerTruth;
  for (const auto& s : r.servers)
    if (s.result == ServerReport::Result::failed) return kExitServerFailed;
  return r.fences_raised + r.fences_failed > 0 ? kExitFenced : kExitOk;
}

std::string format_text(const RunReport& r) {
  std::string out = r.event.empty() ? "" : line("pgdeploy: event " + r.event);
  if (!r.skipped.empty()) return line("pgdeploy: " + r.skipped);
  if (!r.refusal.empty()) {
    if (r.handed_over.empty()) {
      out += line("pgdeploy: REFUSED, nothing was written on any app server: " + r.refusal);
    } else {
      out += line("pgdeploy: handed over to the watcher, no answer: " + r.handed_over);
      out += line("pgdeploy: REFUSED, this run wrote nothing (the watcher may have): " + r.refusal);
    }
    for (const auto& seen : r.seen) out += line("  " + seen);
    for (const auto& st : r.stale) out += line("pgdeploy: STALE PRIMARY " + st);
    return out;
  }
  out += line("pgdeploy: cluster " + r.cluster + ": primary " + r.primary + " at " + r.endpoint.host + ":" +
              std::to_string(r.endpoint.port) + ", timeline " + std::to_string(r.timeline));
  for (const auto& seen : r.seen) out += line("  " + seen);
  for (const auto& st : r.stale) out += line("pgdeploy: STALE PRIMARY " + st);
  for (const auto& w : r.warnings) out += line("warning: " + w);
  if (r.dry_run) return out + format_dry_run(r);
  int ok = 0, failed = 0;
  for (const auto& s : r.servers) {
    std::string text = server_label(s.server) + ": ";
    switch (s.result) {
      case ServerReport::Result::updated: {
        std::string files, what;
        for (const auto& p : s.changed) files += (files.empty() ? "" : ", ") + base_name(p);
        auto add = [&what](const std::string& part) { what += (what.empty() ? "" : "; ") + part; };
        if (!files.empty()) add(files);
        if (s.reloaded) add(s.confirmed ? "reloaded, routes confirmed" : "reloaded");
        if (!s.sessions.empty()) add("sessions " + s.sessions);
        text += "updated (" + (what.empty() ? std::string("nothing left to do") : what) + ")";
        ++ok;
        break;
      }
      case ServerReport::Result::unchanged:
        text += "unchanged";
        ++ok;
        break;
      case ServerReport::Result::skipped_newer:
        text += "skipped: newer config present: " + s.newer;
        ++ok;
        break;
      case ServerReport::Result::failed:
        text += "FAILED " + s.error;
        ++failed;
        break;
    }
    text += " (" + seconds_text(s.seconds) + ")";
    if (!s.note.empty()) text += "; " + s.note;
    out += line(text);
  }
  if (!r.newer_truth.empty())
    return out + line("pgdeploy: NEWER TRUTH, this run's proof is stale and counts as not pushing: " +
                      r.newer_truth +
                      "; the servers above marked updated now route to this run's "
                      "primary: run pgdeploy on the newest primary");
  return out + line("pgdeploy: " + std::to_string(ok) + " of " + std::to_string(r.servers.size()) +
                    " app servers up to date" + (failed ? ", " + std::to_string(failed) + " FAILED" : "") +
                    " (" + seconds_text(r.seconds) + ")");
}

std::string format_json(const RunReport& r) {
  nlohmann::json j;
  j["cluster"] = r.cluster;
  j["exit_code"] = exit_code(r);
  j["seconds"] = r.seconds;
  j["cpu_seconds"] = r.cpu_seconds;
  j["max_rss_kb"] = r.max_rss_kb;
  if (!r.skipped.empty()) j["skipped"] = r.skipped;
  if (!r.event.empty()) j["event"] = r.event;
  if (!r.refusal.empty()) j["refused"] = r.refusal;
  if (!r.handed_over.empty()) j["handed_over"] = r.handed_over;
  if (r.dry_run) j["dry_run"] = true;
  if (!r.newer_truth.empty()) j["newer_truth"] = r.newer_truth;
  j["stale_primaries"] = r.stale;
  j["nodes"] = r.seen;
  j["warnings"] = r.warnings;
  if (r.refusal.empty() && r.skipped.empty()) {
    j["primary"] = {
        {"node", r.primary}, {"host", r.endpoint.host}, {"port", r.endpoint.port}, {"timeline", r.timeline}};
  }
  j["servers"] = nlohmann::json::array();
  for (const auto& s : r.servers) {
    nlohmann::json e = {{"name", s.server.name},
                        {"address", s.server.address},
                        {"application_name", s.server.application_name},
                        {"result", result_name(s.result)},
                        {"changed", s.changed},
                        {"reloaded", s.reloaded},
                        {"routes_confirmed", s.confirmed},
                        {"seconds", s.seconds}};
    if (!s.sessions.empty()) e["sessions"] = s.sessions;
    // What a push read in its console login (the render follows it): only where it said one.
    if (s.pgbouncer_version.known()) e["pgbouncer_version"] = s.pgbouncer_version.text();
    if (r.dry_run && s.result != ServerReport::Result::failed) {
      e.erase("changed");
      e["result"] = s.changed.empty() && s.check.pending.empty() ? "up to date" : "would change";
      e["would_replace"] = s.changed;
      e["include_diff"] = s.diff;
      e["pending"] = s.check.pending;
      e["users"] = {{"added", s.check.users_added},
                    {"removed", s.check.users_removed},
                    {"changed", s.check.users_changed}};
    }
    if (!s.error.empty()) e["error"] = s.error;
    // A skip has said why under "error" since the first release: scripts read it there.
    if (!s.newer.empty()) e["error"] = "newer config present: " + s.newer;
    if (!s.note.empty()) e["note"] = s.note;
    j["servers"].push_back(e);
  }
  // Names from the database may hold any bytes: never let one invalid UTF-8 byte lose the report.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace pgdeploy
