// Asks every node, in parallel, what it is right now: writable or not, and on which timeline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/facts.h"
#include "pg/pg.h"

namespace pgdeploy {

struct NodeProbe {
  int node_id = 0;
  bool reachable = false;
  std::string error;  // why not reachable
  bool writable = false;
  long timeline = 0;
  uint64_t lsn = 0;      // current WAL position, on a writable node
  std::string instance;  // system identifier + postmaster start: tells one server from another
};

// Probes the server behind an open connection.
NodeProbe probe_connection(PgConn& conn, const Deadline& deadline);

// Probes every node except witnesses, all at once, each until `deadline`.
std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes, const Deadline& deadline);

}  // namespace pgdeploy
