#include "agent/last_push.h"

#include <ctime>
#include <ostream>
#include <sstream>

#include "util/file.h"

namespace pgdeploy {

LastPush read_last_push(const std::string& path, std::vector<std::string>* warnings) {
  LastPush last;
  std::string text, why;
  if (!read_own_file(path, &text, &why)) {
    if (!why.empty()) warnings->push_back("record of the last push ignored: " + why);
    return last;
  }
  std::istringstream in(text);
  long when = 0;
  if (in >> when >> last.fingerprint) last.age = static_cast<long>(std::time(nullptr)) - when;
  if (!(in >> last.timeline)) last.timeline = 0;
  return last;
}

void remember_push(const std::string& path, const std::string& fingerprint, long timeline,
                   std::ostream& err) {
  std::string why;
  if (!replace_own_file(
          path,
          std::to_string(std::time(nullptr)) + ' ' + fingerprint + ' ' + std::to_string(timeline) + '\n',
          &why))
    err << "pgdeploy: warning: this push is not recorded (--recent will not see it): " << why << "\n";
}

}  // namespace pgdeploy
