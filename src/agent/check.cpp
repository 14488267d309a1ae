#include "agent/check.h"

#include <optional>
#include <ostream>
#include <sstream>

#include "agent/fence.h"
#include "agent/newer.h"
#include "agent/proof.h"
#include "deploy/deployment.h"
#include "deploy/request.h"
#include "pg/conninfo.h"
#include "pgbouncer/token.h"
#include "report/exit_codes.h"
#include "util/handoff.h"
#include "util/lock.h"

namespace pgdeploy {
namespace {

// The options that shape a check's facts: a watcher runs a check only when its own are these.
std::string check_identity(const Options& o) {
  std::ostringstream id;
  id << o.cluster << '\x1f' << o.conninfo << '\x1f' << o.public_net << '\x1f' << o.include_dir << '\x1f'
     << o.userlist << '\x1f' << o.force << '\x1f' << o.deadline << '\x1f' << o.host_timeout << '\x1f'
     << o.probe_timeout << '\x1f' << o.connect_timeout << '\x1f' << o.parallel << '\x1f'
     << o.host_key_checking << '\x1f' << o.known_hosts << '\x1f' << o.require_majority << '\x1f'
     << static_cast<int>(o.auth) << '\x1f' << o.routes.prefix << '\x1f' << o.routes.suffix;
  for (const auto& p : o.routes.include) id << '\x1f' << "include " << p;
  for (const auto& p : o.routes.exclude) id << '\x1f' << "exclude " << p;
  for (const auto& i : o.identities) id << '\x1f' << i;
  return digest_of(id.str());
}

}  // namespace

std::string check_handoff_line(const Options& opts) {
  return std::to_string(opts.verbose) + " " + std::to_string(opts.warning_unreachable) + " " +
         std::to_string(opts.critical_unreachable) + " " + check_identity(opts);
}

bool check_options_from(const std::string& line, const Options& own, Options* check, std::string* why) {
  std::istringstream in(line);
  std::string identity;
  *check = own;
  if (!(in >> check->verbose >> check->warning_unreachable >> check->critical_unreachable >> identity)) {
    *why = "malformed check request";
    return false;
  }
  if (identity != check_identity(own)) {
    *why = "the check's options (cluster, connection, files, deadlines, SSH) differ from this watcher's";
    return false;
  }
  return true;
}

CheckReport check_cluster(const Options& opts, Database& db, const CheckAsker& asker,
                          const Deadline& run_deadline) {
  auto start = Clock::now();
  CheckReport check;
  check.run.cluster = opts.cluster;
  check.thresholds = {opts.warning_unreachable, opts.critical_unreachable};
  check.verbose = opts.verbose;
  DeployConfig config = deploy_config(opts);
  config.mode = PushRequest::Mode::check;
  Proof proof;
  bool proven = prove(
      opts, db, run_deadline, &check.run, &proof,
      [&](const NodeProbe&, const ClusterFacts& facts) { asker.meet(facts.servers, run_deadline); });
  check.database_failed = !proven && proof.database_failed;
  fence_stale(proof, false, false, db, run_deadline, &check.run);  // named, never fenced: read only
  if (proven) {
    check.run.servers = asker.ask(proof.facts.servers, proof.files, config, run_deadline);
    NewerTruth seen;  // an app server's newer timeline: this proof is stale (agent/newer)
    learn_truth(check.run.servers, &seen);
    if (!opts.force && newer_than(seen, proof.decision.timeline) && could_be_unseen(proof.probes))
      check.run.newer_truth = newer_truth_text(seen, proof.decision.timeline);
    add_conflicts(proof.plan, &check.run);
    check.listed = proof.files.listed;
    for (const Node& n : proof.facts.nodes) {  // to name a node in the status line
      auto pub = proof.facts.public_conninfo.find(n.id);
      bool public_net = opts.public_net && pub != proof.facts.public_conninfo.end();
      Endpoint e;
      std::string why;
      if (endpoint_of(public_net ? pub->second : n.conninfo, &e, &why))
        check.node_names[e.host + ":" + std::to_string(e.port)] = n.name;
    }
  }
  check.timed_out = run_deadline.expired();
  check.run.seconds = seconds_since(start);
  return check;
}

int run_check(const Options& opts, Database& db, Remote& remote, std::ostream& out) {
  Deadline run_deadline = Deadline::after(opts.deadline);  // one for the whole check, either way
  std::string why;
  if (!private_directory(opts.lock_file, &why)) {  // whoever may write there may answer for the watcher
    out << "PGDEPLOY UNKNOWN - " << why << "\n";
    return kCheckUnknown;
  }
  std::string socket = handoff_socket(opts.lock_file);
  HookRequest by_watcher{HookRequest::Ask::check, opts.json, check_handoff_line(opts), 0};
  by_watcher.wait = handoff_wait(run_deadline.remaining_ms() / 1000.0, one_shot_seconds(opts));
  HookAnswer answer;
  if (!socket.empty() && by_watcher.wait > 0 &&
      hand_off(socket, by_watcher, run_deadline, &answer) == Handoff::answered) {
    out << answer.text;
    return answer.code;
  }
  std::optional<Deployment> asking;
  CheckAsker cold;
  // Read only, so the logins may start during the proof wherever the check runs.
  cold.meet = [&](const std::vector<AppServer>& servers, const Deadline& deadline) {
    asking.emplace(servers, opts.parallel, opts.host_timeout, remote, deadline);
  };
  cold.ask = [&](const std::vector<AppServer>&, const Rendered& files, const DeployConfig& config,
                 const Deadline&) { return asking->push(files, config); };
  CheckReport check = check_cluster(opts, db, cold, run_deadline);
  asking.reset();
  // What this node's watcher last saw, if one runs (the same facts as its metrics).
  HookRequest ask_watcher;
  ask_watcher.ask = HookRequest::Ask::status;
  HookAnswer watcher;
  if (!socket.empty() &&
      hand_off(socket, ask_watcher, Deadline::after(kHandoffAck), &watcher) == Handoff::answered)
    check.watcher = watcher.text;
  out << (opts.json ? format_check_json(check) : format_check_text(check));
  return check_status(check);
}

}  // namespace pgdeploy
