// The record of the last push that reached every app server from this node, for --recent:
// "<unix time> <fingerprint> <timeline>" in <lock-file>.last. Read and written without following
// a symlink (util/file): a link planted there is ignored with a warning, and replaced by the next
// record.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace pgdeploy {

struct LastPush {
  long age = -1;  // seconds; -1: no record
  std::string fingerprint;
  long timeline = 0;
};

// The record in `path`; none (age -1) when there is none or it cannot be read (with a warning
// when it is there but refused).
LastPush read_last_push(const std::string& path, std::vector<std::string>* warnings);

// Records a push that reached every app server (atomically); a warning on `err` when it cannot.
void remember_push(const std::string& path, const std::string& fingerprint, long timeline, std::ostream& err);

}  // namespace pgdeploy
