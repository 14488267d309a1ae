#include "util/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace pgdeploy {
namespace {

TEST(ParallelFor, RunsEveryIndexExactlyOnce) {
  for (int workers : {1, 3, 16}) {
    std::vector<std::atomic<int>> runs(100);
    parallel_for(runs.size(), workers, [&](size_t i) { ++runs[i]; });
    for (size_t i = 0; i < runs.size(); ++i)
      EXPECT_EQ(runs[i], 1) << "index " << i << ", " << workers << " workers";
  }
}

TEST(ParallelFor, NoIndexNoJob) {
  int calls = 0;
  parallel_for(0, 4, [&](size_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ParallelFor, NoMoreThanWorkersAtATimeAndThatManyTogether) {
  // The first jobs wait (for at most 10 s) until `workers` of them run at once: the pool reaches
  // its bound; and the most seen running at once, with every job yielding, never passes it.
  const int workers = 4;
  std::mutex mu;
  std::condition_variable cv;
  int running = 0, most = 0;
  bool reached = false;
  parallel_for(40, workers, [&](size_t) {
    {
      std::unique_lock<std::mutex> lock(mu);
      most = std::max(most, ++running);
      if (running == workers) reached = true, cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return reached; });
    }
    std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mu);
    --running;
  });
  EXPECT_TRUE(reached);
  EXPECT_EQ(most, workers);
}

TEST(ParallelFor, NoWorkersStillRunsTheJobsOnOneThread) {
  std::set<std::thread::id> threads;
  std::vector<int> order;
  parallel_for(5, 0, [&](size_t i) {
    threads.insert(std::this_thread::get_id());
    order.push_back(static_cast<int>(i));
  });
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace pgdeploy
