#include "pg/pg.h"

#include <libpq-fe.h>

namespace pgdeploy {
namespace {

std::string last_error(PGconn* conn) {
  std::string msg = PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  // libpq reports every address it tried on its own line; one line reads better in a report.
  std::string one_line;
  for (size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      one_line += "; ";
      while (i + 1 < msg.size() && (msg[i + 1] == '\t' || msg[i + 1] == ' ')) ++i;
    } else {
      one_line += msg[i];
    }
  }
  return one_line;
}

}  // namespace

std::unique_ptr<PgConn> PgConn::connect(const std::string& conninfo, const Deadline& deadline,
                                        std::string* err) {
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "pgdeploy", nullptr};
  PGconn* conn = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (!conn) {
    *err = "out of memory";
    return nullptr;
  }
  std::unique_ptr<PgConn> result(new PgConn(conn));
  if (PQstatus(conn) == CONNECTION_BAD) {
    *err = last_error(conn);
    return nullptr;
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      *err = last_error(conn);
      return nullptr;
    }
    if (!wait_fd(PQsocket(conn), state == PGRES_POLLING_WRITING, deadline)) {
      *err = "timed out connecting";
      return nullptr;
    }
    state = PQconnectPoll(conn);
  }
  return result;
}

PgConn::~PgConn() { PQfinish(conn_); }

bool PgConn::query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>* rows,
                   const Deadline& deadline, std::string* err) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                         nullptr, 0)) {
    *err = last_error(conn_);
    return false;
  }
  bool ok = true;
  rows->clear();
  for (;;) {
    while (PQisBusy(conn_)) {
      if (!wait_fd(PQsocket(conn_), false, deadline)) {
        *err = "timed out waiting for the server";
        return false;
      }
      if (!PQconsumeInput(conn_)) {
        *err = last_error(conn_);
        return false;
      }
    }
    PGresult* res = PQgetResult(conn_);
    if (!res) break;
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK) {
      for (int r = 0; r < PQntuples(res); ++r) {
        PgRow row;
        for (int c = 0; c < PQnfields(res); ++c) {
          if (PQgetisnull(res, r, c)) row.emplace_back(std::nullopt);
          else row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
        }
        rows->push_back(std::move(row));
      }
    } else if (status != PGRES_COMMAND_OK && ok) {
      *err = PQresultErrorMessage(res);
      while (!err->empty() && err->back() == '\n') err->pop_back();
      ok = false;
    }
    PQclear(res);
  }
  return ok;
}

bool PgConn::query_row(const std::string& sql, const std::vector<std::string>& params, PgRow* row,
                       const Deadline& deadline, std::string* err) {
  std::vector<PgRow> rows;
  if (!query(sql, params, &rows, deadline, err)) return false;
  if (rows.size() != 1) {
    *err = "expected one row, got " + std::to_string(rows.size());
    return false;
  }
  *row = std::move(rows[0]);
  return true;
}

std::string PgConn::quote_ident(const std::string& name) const {
  char* quoted = PQescapeIdentifier(conn_, name.c_str(), name.size());
  std::string out = quoted ? quoted : "";
  PQfreemem(quoted);
  return out;
}

std::string PgConn::database() const { return PQdb(conn_); }

}  // namespace pgdeploy
