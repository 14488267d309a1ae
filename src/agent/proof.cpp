#include "agent/proof.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include "cluster/auth_lookup.h"
#include "cluster/catalog.h"
#include "pg/conninfo.h"
#include "pgbouncer/render.h"
#include "pgbouncer/routes.h"
#include "pgbouncer/token.h"

namespace pgdeploy {
namespace {

// The running user's ~/.pgpass (or $PGPASSFILE), as libpq would find it; "" if there is none.
std::string read_local_pgpass() {
  const char* env = std::getenv("PGPASSFILE");
  const char* home = std::getenv("HOME");
  std::string path = env ? env : std::string(home ? home : "") + "/.pgpass";
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? text.str() : "";
}

}  // namespace

bool prove(const Options& opts, Database& db, const Deadline& run_deadline, RunReport* report, Proof* p,
           const std::function<void(const NodeProbe& self, const ClusterFacts& facts)>& meanwhile,
           const ServerLimits& limits) {
  p->self_is_primary = false;
  auto refuse = [report](const std::string& why) {
    report->refusal = why;
    return false;
  };
  std::string why;
  Deadline db_deadline = Deadline::after(opts.probe_timeout * 2).min(run_deadline);
  p->database_failed = true;
  if (!db.connect(db_deadline, &why)) return refuse(why);
  ClusterFacts& facts = p->facts;
  if (!read_cluster_facts(db, opts.cluster, opts.public_net, db_deadline, &facts, &why)) return refuse(why);
  if (facts.servers.empty()) return refuse("no enabled app server in " + facts.schema + ".app_servers");
  if (facts.databases.empty()) return refuse("no database to route");
  // One server per host: rows that disagree about a host are reported failed, not deployed.
  p->plan = plan_servers(facts.servers);
  facts.servers = p->plan.deploy;
  facts.warnings.insert(facts.warnings.end(), p->plan.warnings.begin(), p->plan.warnings.end());
  if (facts.servers.empty()) return refuse("no app server to deploy to: " + p->plan.conflicts.at(0).error);

  // Prove the primary: ask every node what it is, right now.
  NodeProbe self = db.probe_self_and_close(db_deadline);
  meanwhile(self, facts);
  p->database_failed = false;
  // Witnesses are asked only to count them (--require-majority), beside the nodes.
  Deadline probe_deadline = Deadline::after(opts.probe_timeout).min(run_deadline);
  std::future<std::vector<NodeProbe>> witnesses;
  if (opts.require_majority)
    witnesses = std::async(std::launch::async,
                           [&] { return db.probe_witnesses(facts.nodes, probe_deadline); });
  p->probes = db.probe_nodes(facts.nodes, probe_deadline);
  if (witnesses.valid())
    for (NodeProbe& w : witnesses.get()) p->probes.push_back(w);
  const auto& probes = p->probes;
  p->decision = decide_primary(facts.nodes, probes, self.instance, opts.force, opts.require_majority);
  const PrimaryDecision& decision = p->decision;
  report->seen = decision.seen;
  report->warnings.insert(report->warnings.begin(), facts.warnings.begin(), facts.warnings.end());
  report->warnings.insert(report->warnings.end(), decision.warnings.begin(), decision.warnings.end());
  if (!decision.ok) return refuse(decision.refusal);
  const Node& primary = *decision.primary;
  for (const NodeProbe& probe : probes)
    if (probe.node_id == primary.id && !self.instance.empty() && probe.instance == self.instance)
      p->self_is_primary = true;
  report->primary = primary.name + " (id " + std::to_string(primary.id) + ")";
  report->timeline = decision.timeline;

  std::string address = primary.conninfo;
  if (opts.public_net) {
    auto it = facts.public_conninfo.find(primary.id);
    if (it == facts.public_conninfo.end())
      return refuse("--public-net: node_public_info has no row for node " + report->primary);
    address = it->second;
  }
  if (!endpoint_of(address, &report->endpoint, &why))
    return refuse("cannot address the primary " + report->primary + ": " + why);
  if (!host_ok(report->endpoint.host))
    return refuse("the primary " + report->primary +
                  "'s host cannot be written into PgBouncer's "
                  "configuration (white space, a quote or a control character in it)");

  // Render once, for every server (userlist.txt once per distinct limits of their PgBouncers).
  Token token{opts.cluster, primary.id, decision.timeline, decision.lsn};
  std::string pgpass = read_local_pgpass();
  p->files = render_all(facts, report->endpoint, token, pgpass, opts.routes, limits);
  // Named only where a userlist.txt is written: with auth_query no role's secret is copied.
  bool userlists = std::any_of(facts.servers.begin(), facts.servers.end(), [&](const AppServer& s) {
    return s.auth.value_or(opts.auth) == AuthMode::file;
  });
  for (const auto& role : facts.roles_left_out)
    if (userlists) report->warnings.push_back(role + " may not log in: left out of userlist.txt");
  for (const auto& s : p->files.skipped)
    report->warnings.push_back(s + " cannot be written to PgBouncer's files: left out");
  if (pgpass.empty()) report->warnings.push_back("no local ~/.pgpass: none copied to app servers");
  return true;
}

std::vector<std::string> auth_lookup_databases(const Options& opts, const Proof& proof) {
  std::vector<std::string> databases;
  if (opts.auth_lookup.empty() || !uses_auth_query(proof.facts.servers, opts.auth)) return databases;
  std::vector<std::string> skipped;
  for (const Route& r : select_routes(proof.facts.databases, opts.routes, &skipped))
    databases.push_back(r.dbname);
  return databases;
}

std::vector<std::string> check_auth_lookup(const Options& opts, const Proof& proof,
                                           const std::vector<std::string>& databases, Database& db,
                                           const Deadline& deadline) {
  if (databases.empty() || !proof.decision.primary) return {};
  return auth_lookup_warnings(opts.auth_lookup, db.has_function(proof.decision.primary->conninfo, databases,
                                                                opts.auth_lookup, deadline));
}

DeployConfig deploy_config(const Options& opts) {
  DeployConfig config;
  config.cluster = opts.cluster;
  config.include_dir = opts.include_dir;
  config.userlist = opts.userlist;
  config.reload_command = opts.reload_command;
  config.auth = opts.auth;
  config.force = opts.force;
  config.drain_sessions = opts.sessions == Sessions::drain ||
                          (opts.sessions == Sessions::by_event && opts.event == "standby_switchover");
  config.pause_wait_seconds = opts.pause_timeout;
  config.parallel = opts.parallel;
  config.host_timeout = opts.host_timeout;
  return config;
}

// Rows that disagree about a host: reported failed, never asked nor written.
void add_conflicts(const ServerPlan& plan, RunReport* report) {
  for (const auto& c : plan.conflicts) {
    ServerReport failed;
    failed.server = c.server;
    failed.error = "config: " + c.error;  // result: failed
    report->servers.push_back(failed);
  }
}

SshSettings ssh_settings(const Options& opts) {
  return {opts.connect_timeout, opts.host_key_checking == "accept-new", opts.known_hosts, opts.identities};
}

double one_shot_seconds(const Options& opts) { return 3 * opts.probe_timeout + opts.host_timeout; }

}  // namespace pgdeploy
