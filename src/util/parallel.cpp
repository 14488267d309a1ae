#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace pgdeploy {

void parallel_for(size_t n, int workers, const std::function<void(size_t)>& job) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) job(i);
  };
  std::vector<std::thread> pool;
  size_t threads = std::min(n, static_cast<size_t>(std::max(1, workers)));
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
}

}  // namespace pgdeploy
