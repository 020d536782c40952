// sched.cpp: launches, blocks, barriers and warp shuffles (see emu.h).
//
// A block's threads are fibers (ucontext) run one at a time on the calling
// thread. A fiber runs until it waits (__syncthreads, a shuffle) or
// returns; the schedule then picks the next runnable fiber:
//   TUNE_EMU_SCHED=low          the lowest thread index (the default)
//   TUNE_EMU_SCHED=high         the highest
//   TUNE_EMU_SCHED=random[:N]   a pseudo-random one, seeded with N (1)
// Every order is reproducible. A barrier opens when every live thread of
// the block waits at it, all at the same __syncthreads; a shuffle completes
// when every lane of its mask has offered a value. Anything a GPU leaves
// undefined (threads at different barriers, a barrier after some threads
// returned, a shuffle that a lane of its mask never joins) aborts with a
// message naming the kernel, block and thread.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <mutex>
#include <vector>

#include "cuda_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

// Kernels keep little on their stacks; AddressSanitizer's frames are larger.
constexpr size_t kStackBytes = 256 << 10;
constexpr size_t kGuardBytes = 4096;  // a PROT_NONE page below each stack
constexpr unsigned kMaxThreads = 1024;
constexpr size_t kMaxShared = 48 << 10;

enum class state : uint8_t { ready, barrier, shuffle, done };

struct fiber {
  ucontext_t ctx;
  char *stack = nullptr;  // kStackBytes, above a guard page
  state st = state::ready;
  const char *site = nullptr;  // the __syncthreads it waits at
  uint64_t offered = 0;        // the shuffle it waits in: its value,
  unsigned mask = 0;           // the mask it gave,
  uint64_t *received = nullptr;  // and where the 32 lanes' values go
};

enum class policy { low, high, random };

// The block being run. Launches are serialized, so one is enough.
struct block_run {
  std::vector<fiber> fibers;  // grows to the largest block; stacks are reused
  unsigned n = 0;             // threads in this block
  unsigned current = 0;       // the running fiber
  unsigned at_barrier = 0, done = 0;
  ucontext_t scheduler;
  launch_body *body = nullptr;
  const char *kernel = "";
  policy order = policy::low;
  uint64_t rng = 1;
#if EMU_ASAN
  const void *scheduler_stack = nullptr;
  size_t scheduler_stack_bytes = 0;
#endif
} run;

std::mutex launch_mu;
std::mutex shared_mu;
std::vector<std::pair<void *, size_t>> shared_arrays;

void poison_shared() {
  std::lock_guard<std::mutex> lk(shared_mu);
  for (auto &a : shared_arrays) memset(a.first, 0xff, a.second);
}

[[noreturn]] void vdie(const char *fmt, va_list ap) {
  fprintf(stderr, "cuda-emu: FATAL: %s, block (%u,%u,%u), thread %u: ", run.kernel, block_idx.x, block_idx.y,
          block_idx.z, run.current);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

// ---- switching between the scheduler and the fibers ------------------------

void set_indices(unsigned t) {
  run.current = t;
  thread_idx = uint3{t % block_dim.x, t / block_dim.x % block_dim.y, t / (block_dim.x * block_dim.y)};
}

void resume(unsigned t) {
  set_indices(t);
#if EMU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, run.fibers[t].stack, kStackBytes);
#endif
  swapcontext(&run.scheduler, &run.fibers[t].ctx);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// suspend returns to the scheduler until the fiber is resumed.
void suspend() {
#if EMU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, run.scheduler_stack, run.scheduler_stack_bytes);
#endif
  swapcontext(&run.fibers[run.current].ctx, &run.scheduler);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, &run.scheduler_stack, &run.scheduler_stack_bytes);
#endif
}

void fiber_main() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &run.scheduler_stack, &run.scheduler_stack_bytes);
#endif
  run.body->run();
  run.fibers[run.current].st = state::done;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, run.scheduler_stack, run.scheduler_stack_bytes);
#endif
  setcontext(&run.scheduler);
  abort();  // setcontext does not return
}

void prepare(unsigned t) {
  fiber &f = run.fibers[t];
  if (f.stack == nullptr) {
    void *m = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("mmap of a %zu-byte fiber stack failed", kStackBytes);
    mprotect(m, kGuardBytes, PROT_NONE);
    f.stack = static_cast<char *>(m) + kGuardBytes;
  }
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_main, 0);
  f.st = state::ready;
  f.site = nullptr;
  f.received = nullptr;
}

// ---- the schedule ----------------------------------------------------------

policy read_policy() {
  const char *s = getenv("TUNE_EMU_SCHED");
  if (s == nullptr || *s == 0 || !strcmp(s, "low")) return policy::low;
  if (!strcmp(s, "high")) return policy::high;
  if (!strncmp(s, "random", 6)) {
    run.rng = 1;
    if (s[6] == ':') run.rng = strtoull(s + 7, nullptr, 10) | 1;
    else if (s[6] != 0) die("TUNE_EMU_SCHED=%s: want low, high, random or random:SEED", s);
    return policy::random;
  }
  die("TUNE_EMU_SCHED=%s: want low, high, random or random:SEED", s);
}

// pick returns the next fiber to run, or -1 when none is ready.
int pick() {
  unsigned ready = 0;
  for (unsigned t = 0; t < run.n; t++) ready += run.fibers[t].st == state::ready;
  if (ready == 0) return -1;
  unsigned k = 0;  // the k-th ready fiber
  if (run.order == policy::high) {
    k = ready - 1;
  } else if (run.order == policy::random) {
    run.rng ^= run.rng << 13, run.rng ^= run.rng >> 7, run.rng ^= run.rng << 17;
    k = (unsigned)(run.rng % ready);
  }
  for (unsigned t = 0; t < run.n; t++)
    if (run.fibers[t].st == state::ready && k-- == 0) return (int)t;
  return -1;
}

// open_barrier lets every thread waiting at the barrier go on, once all
// live threads wait there.
void open_barrier() {
  if (run.at_barrier == 0 || run.at_barrier + run.done < run.n) return;
  const char *site = nullptr;
  for (unsigned t = 0; t < run.n; t++) {
    fiber &f = run.fibers[t];
    if (f.st != state::barrier) continue;
    if (site == nullptr) site = f.site;
    if (strcmp(site, f.site) != 0)
      die("threads wait at different __syncthreads: %s and %s (thread %u)", site, f.site, t);
  }
  if (run.done > 0)
    die("__syncthreads at %s after %u threads of the block returned (undefined in CUDA)", site, run.done);
  for (unsigned t = 0; t < run.n; t++)
    if (run.fibers[t].st == state::barrier) run.fibers[t].st = state::ready;
  run.at_barrier = 0;
}

// settle_warp completes warp w's shuffle when every lane of its mask has
// offered a value, and aborts when a lane of the mask cannot.
void settle_warp(unsigned w) {
  unsigned first = 32 * w, lanes = run.n - first < 32 ? run.n - first : 32;
  unsigned exists = lanes == 32 ? ~0u : (1u << lanes) - 1, requested = 0, offered = 0, gone = 0;
  for (unsigned l = 0; l < lanes; l++) {
    const fiber &f = run.fibers[first + l];
    if (f.st == state::shuffle) requested |= f.mask, offered |= 1u << l;
    if (f.st == state::done || f.st == state::barrier) gone |= 1u << l;
  }
  if (offered == 0) return;
  requested &= exists;
  if (requested & gone)
    die("warp %u: a shuffle with mask %08x, but lanes %08x returned or wait at __syncthreads instead", w, requested,
        requested & gone);
  if ((requested & offered) != requested) return;  // lanes of the mask still to come
  uint64_t all[32];
  for (unsigned l = 0; l < 32; l++)
    all[l] = l < lanes && run.fibers[first + l].st == state::shuffle ? run.fibers[first + l].offered : ~uint64_t(0);
  for (unsigned l = 0; l < lanes; l++) {
    fiber &f = run.fibers[first + l];
    if (f.st != state::shuffle) continue;
    memcpy(f.received, all, sizeof all);
    f.st = state::ready;
  }
}

void deadlock() {
  unsigned shuffling = 0;
  for (unsigned t = 0; t < run.n; t++) shuffling += run.fibers[t].st == state::shuffle;
  die("the block cannot go on: %u threads wait at __syncthreads, %u in shuffles, %u returned", run.at_barrier,
      shuffling, run.done);
}

void run_block() {
  poison_shared();  // CUDA leaves shared memory undefined when a block starts
  for (unsigned t = 0; t < run.n; t++) prepare(t);
  run.at_barrier = run.done = 0;
  for (;;) {
    int t = pick();
    if (t < 0) {
      if (run.done == run.n) return;
      deadlock();
    }
    resume((unsigned)t);
    fiber &f = run.fibers[t];
    switch (f.st) {
      case state::barrier:
        run.at_barrier++;
        open_barrier();
        break;
      case state::shuffle:
        settle_warp((unsigned)t / 32);
        break;
      case state::done:
        run.done++;
        open_barrier();
        settle_warp((unsigned)t / 32);
        break;
      case state::ready:
        break;
    }
  }
}

}  // namespace

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(fmt, ap);
}

void warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "cuda-emu: warning: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

shared_array::shared_array(void *p, size_t bytes) {
  std::lock_guard<std::mutex> lk(shared_mu);
  shared_arrays.emplace_back(p, bytes);
  memset(p, 0xff, bytes);
}

void syncthreads(const char *site) {
  fiber &f = run.fibers[run.current];
  f.st = state::barrier;
  f.site = site;
  suspend();
}

unsigned lane() { return run.current % 32; }

void exchange(uint64_t v, unsigned mask, uint64_t (&all)[32]) {
  if (!(mask & (1u << lane()))) die("a shuffle with mask %08x from lane %u, which the mask leaves out", mask, lane());
  fiber &f = run.fibers[run.current];
  f.st = state::shuffle;
  f.offered = v;
  f.mask = mask;
  f.received = all;
  suspend();
}

void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t, launch_body &body, const char *kernel) {
  std::lock_guard<std::mutex> lk(launch_mu);
  uint64_t threads = (uint64_t)block.x * block.y * block.z;
  if (grid.x < 1 || grid.x > 0x7fffffffu || grid.y < 1 || grid.y > 65535 || grid.z < 1 || grid.z > 65535 ||
      threads < 1 || threads > kMaxThreads || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      shared_bytes > kMaxShared) {
    warn("%s: invalid launch: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of shared memory", kernel, grid.x, grid.y,
         grid.z, block.x, block.y, block.z, shared_bytes);
    fail_launch(cudaErrorInvalidConfiguration);
    return;
  }
  run.kernel = kernel;
  if (shared_bytes > 0) die("dynamic shared memory is not emulated yet (add it to cuda/emu)");
  run.order = read_policy();
  grid_dim = grid;
  block_dim = block;
  run.n = (unsigned)threads;
  run.body = &body;
  if (run.fibers.size() < run.n) run.fibers.resize(run.n);
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        block_idx = uint3{x, y, z};
        run_block();
      }
  run.kernel = "";
}

}  // namespace emu
