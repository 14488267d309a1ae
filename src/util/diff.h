// A unified diff of two texts, as `diff -u` prints it: for a person reading a dry run.
#pragma once

#include <string>

namespace pgdeploy {

// "" when the texts are equal. Lines are compared whole; the common head and tail are skipped
// before the longest common subsequence is sought, and a middle too large for that (more than
// 4 million line pairs) is shown as one block replaced.
std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_name,
                         const std::string& after_name, int context = 3);

}  // namespace pgdeploy
