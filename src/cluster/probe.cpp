#include "cluster/probe.h"

#include <thread>

namespace pgdeploy {
namespace {

// On a primary the current WAL file name starts with the timeline at once; the checkpoint's
// timeline can lag behind a promotion. A standby's newest timeline is what it receives.
const char* kProbeSql =
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    "      ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    "      ELSE (pg_current_wal_lsn() - '0/0')::text END,"
    " greatest((SELECT timeline_id FROM pg_control_checkpoint()),"
    "          (SELECT max(received_tli) FROM pg_stat_wal_receiver)),"
    " (SELECT system_identifier FROM pg_control_system())::text || ' ' ||"
    "  pg_postmaster_start_time()::text";

}  // namespace

NodeProbe probe_connection(PgConn& conn, const Deadline& deadline) {
  NodeProbe p;
  PgRow row;
  if (!conn.query_row(kProbeSql, {}, &row, deadline, &p.error)) return p;
  p.reachable = true;
  p.writable = row[0] && *row[0] == "f";
  try {
    if (p.writable) {
      p.timeline = std::stol(row[1].value_or("0"), nullptr, 16);
      p.lsn = std::stoull(row[2].value_or("0"));
    } else {
      p.timeline = std::stol(row[3].value_or("0"));
    }
  } catch (const std::exception&) {
    p.reachable = false;
    p.error = "unexpected answer to the timeline query";
  }
  p.instance = row[4].value_or("");
  return p;
}

std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes, const Deadline& deadline) {
  std::vector<const Node*> asked;
  for (const Node& n : nodes)
    if (n.type != "witness") asked.push_back(&n);  // a witness has a timeline of its own
  std::vector<NodeProbe> probes(asked.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < asked.size(); ++i) {
    threads.emplace_back([out = &probes[i], node = asked[i], deadline] {
      std::string err;
      auto conn = PgConn::connect(node->conninfo, deadline, &err);
      if (conn) *out = probe_connection(*conn, deadline);
      else out->error = err;
      out->node_id = node->id;
    });
  }
  for (auto& t : threads) t.join();
  return probes;
}

}  // namespace pgdeploy
