// The C++ runtime of a sysroot, linked by its <triple>-c++ wrapper alone
// (no Rust, no cargo: the way CMake's compiler check and C++ build tools
// link): iostream, containers, std::thread with a thread_local destructor,
// an exception thrown deep in each thread and caught there, another
// crossing main's frames, and operator new's block from mimalloc.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <malloc.h>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::atomic<int> destructed{0};

struct PerThread {
    std::string name;
    ~PerThread() { destructed.fetch_add(1); }
};
static thread_local PerThread per_thread;

static int descend(int depth) {
    if (depth == 0) throw std::out_of_range("depth " + std::to_string(depth));
    return descend(depth - 1) + 1;
}

int main() {
    std::atomic<int> caught{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([t, &caught] {
            per_thread.name = "worker-" + std::to_string(t);
            std::map<int, std::string> m;
            for (int i = 0; i < 500; i++) m[i] = per_thread.name;
            try {
                descend(100);
            } catch (const std::logic_error&) {
                caught.fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
    std::cout << "caught " << caught << ", destructors " << destructed << std::endl;

    try {
        std::vector<int> v(3);
        (void)v.at(7);
        std::cout << "no exception" << std::endl;
    } catch (const std::out_of_range&) {
        std::cout << "vector::at threw out_of_range" << std::endl;
    }

    char* p = new char[13];
    std::cout << "new char[13]: usable size " << malloc_usable_size(p) << std::endl;
    delete[] p;
    return 0;
}
