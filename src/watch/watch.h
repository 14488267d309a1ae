// pgdeploy watch: the one-shot's proof and push in a loop, over warm sessions, until stopped.
// This is the loop (signals, systemd's sd_notify and watchdog, the hook socket, the metrics
// endpoint); one round is watch/round.
#pragma once

#include <iosfwd>

#include "cli/options.h"
#include "cluster/database.h"
#include "watch/round.h"

namespace pgdeploy {

// Runs until SIGTERM or SIGINT; returns the exit code (see `pgdeploy watch --help`).
// `db` is this node's database (-p), as for a one-shot run; `make_remote` makes the transport to
// the app servers, at the start and again after SIGHUP.
int run_watch(const Options& opts, Database& db, const MakeRemote& make_remote, std::ostream& out,
              std::ostream& err);

}  // namespace pgdeploy
