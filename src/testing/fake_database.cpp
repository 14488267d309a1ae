#include "testing/fake_database.h"

#include <algorithm>

namespace pgdeploy {

FakeDatabase FakeDatabase::repmgr4() {
  FakeDatabase db;
  db.table("repmgr", "nodes").columns = {"node_id", "node_name", "type", "active", "conninfo"};
  db.table("repmgr", "app_servers").columns = {
      "id", "name", "ip_addr", "username", "application_name", "enabled", "auth_trust", "admin_conninfo"};
  db.table("pg_catalog", "pg_database").columns = {"datname", "datistemplate"};
  db.table("pg_catalog", "pg_authid").columns = {"rolname", "rolpassword", "rolcanlogin", "rolvaliduntil",
                                                 "valid_until_passed"};
  return db;
}

bool FakeDatabase::connect(const Deadline&, std::string* err) {
  ++connects;
  *err = connect_error;
  return connect_error.empty();
}

bool FakeDatabase::columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
                           const Deadline&, std::string*) {
  out->clear();
  auto it = tables.find({schema, table});
  if (it != tables.end()) out->insert(it->second.columns.begin(), it->second.columns.end());
  return true;
}

bool FakeDatabase::rows(const std::string& schema, const std::string& table,
                        const std::vector<std::string>& columns, std::vector<Row>* out, const Deadline&,
                        std::string* err) {
  auto it = tables.find({schema, table});
  if (it == tables.end()) {
    *err = "relation \"" + schema + "." + table + "\" does not exist";
    return false;
  }
  const Table& t = it->second;
  std::vector<int> index;  // -1: NULL
  for (const auto& c : columns) {
    auto at = std::find(t.columns.begin(), t.columns.end(), c);
    if (!c.empty() && at == t.columns.end()) {
      *err = "column \"" + c + "\" does not exist";
      return false;
    }
    index.push_back(c.empty() ? -1 : static_cast<int>(at - t.columns.begin()));
  }
  out->clear();
  for (const Row& r : t.rows) {
    Row picked;
    for (int i : index) picked.push_back(i < 0 ? std::nullopt : r.at(static_cast<size_t>(i)));
    out->push_back(picked);
  }
  return true;
}

bool FakeDatabase::roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) {
  return rows("pg_catalog", "pg_authid",
              {"rolname", "rolpassword", "rolcanlogin", "rolvaliduntil", "valid_until_passed"}, out, deadline,
              err);
}

std::vector<NodeProbe> FakeDatabase::probe_nodes(const std::vector<Node>& nodes, const Deadline&) {
  if (on_probe_nodes) on_probe_nodes();
  std::vector<NodeProbe> out;
  for (const Node& n : nodes) {
    if (n.type == "witness") continue;
    NodeProbe p;
    auto it = probes.find(n.id);
    if (it != probes.end()) p = it->second;
    else p.error = "unreachable";
    p.node_id = n.id;
    out.push_back(p);
  }
  return out;
}

bool FakeDatabase::self_writable(bool* writable, const Deadline&, std::string* err) {
  if (on_self_writable) return on_self_writable(writable, err);
  *writable = self.writable;
  return true;
}

std::vector<NodeProbe> FakeDatabase::probe_witnesses(const std::vector<Node>& nodes, const Deadline&) {
  std::vector<NodeProbe> out;
  for (const Node& n : nodes) {
    if (n.type != "witness") continue;
    NodeProbe p;
    auto it = probes.find(n.id);
    if (it != probes.end()) p = it->second;
    else p.error = "unreachable";
    p.node_id = n.id;
    p.witness = true;
    out.push_back(p);
  }
  return out;
}

bool FakeDatabase::fence(const Node& node, bool stop, const Deadline&, int* sessions_ended,
                         std::string* err) {
  fenced.push_back(node.id);
  if (!fence_error.empty()) {
    *err = fence_error;
    return false;
  }
  probes[node.id].read_only_default = true;
  if (stop) {
    stopped.push_back(node.id);
    probes.erase(node.id);
  }
  *sessions_ended = fence_sessions;
  return true;
}

std::vector<FunctionCheck> FakeDatabase::has_function(const std::string& conninfo,
                                                      const std::vector<std::string>& databases,
                                                      const std::string& signature, const Deadline&) {
  std::vector<FunctionCheck> out;
  for (const auto& db : databases) {
    function_asked.push_back(conninfo + "|" + db + "|" + signature);
    FunctionCheck c{db, true, function_in.count(db) > 0, ""};
    if (auto it = function_errors.find(db); it != function_errors.end()) c = {db, false, false, it->second};
    out.push_back(c);
  }
  return out;
}

}  // namespace pgdeploy
