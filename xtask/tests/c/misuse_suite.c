/* A suite of heap misuse, as programs with bugs commit it: every kind at
 * a small, a medium and a large block size, each case in a child process
 * of its own (xtask/tests/misuse.rs reads the table this prints).
 *
 * A case allocates, commits its misuse, then goes on using the heap the way
 * a program would (blocks of the same and of other sizes allocated,
 * written and freed), and at the end says that the misuse went through.
 * It counts as caught when it is stopped before it can say so: a signal
 * (the allocator's abort, or a fault on a guard page or unmapped memory)
 * or an exit other than the case's own.
 *
 *   misuse_suite list           the cases, one "KIND SIZE" per line
 *   misuse_suite all            runs every case; one line per case:
 *                               "case KIND SIZE caught|missed|hung HOW | MESSAGE"
 *                               (HOW: "SIGABRT", "SIGSEGV", "exit N",
 *                               "hung" (no end within 30 s) or "went
 *                               through"; MESSAGE: the first line
 *                               the case wrote to stderr, if any)
 *   misuse_suite KIND SIZE      runs one case in this process
 *
 * SIZE is small (40 bytes), medium (20,000 bytes: in a page of its size
 * class everywhere) or large (1,100,000 bytes: mapped on its own by glibc
 * and musl's mallocng, a block of its own in mimalloc).
 *
 * Pointers pass through volatile variables, so the compiler cannot drop a
 * malloc/free pair it can see, and with it the misuse; the sysroot's C
 * wrapper compiles with -fno-builtin as well. */
#define _GNU_SOURCE
#include <alloca.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile opaque;

static void *hide(void *p)
{
	opaque = p;
	return opaque;
}

static char *alloc(size_t n)
{
	char *p = hide(malloc(n));
	if (!p) {
		fputs("malloc failed\n", stderr);
		_exit(90);
	}
	memset(p, 0x5a, n);
	return p;
}

/* The block a case misuses, allocated between live neighbours of its
 * size that stay allocated to the end, as in a program whose heap holds
 * more than the one block: no allocator can then hand the block's page or
 * group back to the system when it is freed, so a write after free meets
 * the allocator's own memory and not an unmapped page. */
static char *victim(size_t n)
{
	enum { NEIGHBOURS = 8 };
	static void *volatile neighbours[2 * NEIGHBOURS];
	for (int i = 0; i < NEIGHBOURS; i++)
		neighbours[i] = alloc(n);
	char *p = alloc(n);
	for (int i = NEIGHBOURS; i < 2 * NEIGHBOURS; i++)
		neighbours[i] = alloc(n);
	return p;
}

/* The control: no misuse at all. Every allocator must let it through. */
static void no_misuse(size_t n)
{
	char *p = victim(n);
	free(hide(p));
}

/* The program goes on: blocks of the misused size and of others,
 * allocated, written, freed, in two rounds, so that an allocator that
 * checks its lists or canaries when it hands out or takes back blocks has
 * the chance to. */
static void go_on(size_t n)
{
	enum { BLOCKS = 64 };
	static const size_t others[] = { 16, 40, 200, 4000, 20000, 300000 };
	void *blocks[BLOCKS];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < BLOCKS; i++) {
			size_t size = i % 2 ? n : others[i / 2 % 6];
			blocks[i] = alloc(size);
		}
		for (int i = 0; i < BLOCKS; i++)
			free(hide(blocks[i]));
	}
}

/* --- double frees --- */

static void df_immediate(size_t n)
{
	char *p = victim(n);
	free(p);
	free(hide(p));
}

static void df_interleaved(size_t n)
{
	char *p = victim(n), *q = alloc(n);
	free(p);
	free(q);
	free(hide(p));
}

static void df_after_churn(size_t n)
{
	char *p = victim(n);
	free(p);
	go_on(n / 2 + 1);
	free(hide(p));
}

static void *df_thread_body(void *arg)
{
	size_t n = (size_t)arg;
	char *p = victim(n);
	free(p);
	free(hide(p));
	return 0;
}

static void run_thread(void *(*body)(void *), void *arg)
{
	pthread_t t;
	if (pthread_create(&t, 0, body, arg) || pthread_join(t, 0)) {
		fputs("pthread failed\n", stderr);
		_exit(91);
	}
}

static void df_in_thread(size_t n)
{
	run_thread(df_thread_body, (void *)n);
}

static void *free_it(void *p)
{
	free(hide(p));
	return 0;
}

static void df_other_thread(size_t n)
{
	char *p = victim(n);
	free(p);
	run_thread(free_it, p);
}

static void df_realloc_zero(size_t n)
{
	/* realloc(p, 0) frees p (glibc returns NULL, musl a fresh block). */
	char *p = victim(n);
	free(hide(realloc(p, 0)));
	free(hide(p));
}

static void df_calloc(size_t n)
{
	(void)victim(n); /* its neighbours */
	char *p = hide(calloc(1, n));
	free(p);
	free(hide(p));
}

static void df_aligned(size_t n)
{
	(void)victim(n); /* its neighbours */
	char *p = hide(aligned_alloc(64, (n + 63) / 64 * 64));
	free(p);
	free(hide(p));
}

/* --- frees of pointers malloc never returned --- */

static void free_middle(size_t n)
{
	char *p = victim(n);
	free(hide(p + n / 2 / 16 * 16));
}

static void free_plus_16(size_t n)
{
	char *p = victim(n);
	free(hide(p + 16));
}

static void free_unaligned(size_t n)
{
	char *p = victim(n);
	free(hide(p + 1));
}

static void free_far(size_t n)
{
	(void)n;
	/* No heap of these allocators, nor anything else here: 16 TiB up, or
	 * on 32-bit targets 1 MiB below the top of the address space. */
#if UINTPTR_MAX > 0xffffffffu
	free(hide((void *)((uintptr_t)1 << 44)));
#else
	free(hide((void *)(uintptr_t)0xfff00000u));
#endif
}

static void free_stack(size_t n)
{
	char local[64];
	(void)n;
	memset(local, 1, sizeof local);
	free(hide(local + 16));
}

static void free_alloca(size_t n)
{
	char *p = alloca(n < 65536 ? n : 65536);
	p[0] = 1;
	free(hide(p));
}

static char global_block[2 * 65536];

static void free_static(size_t n)
{
	(void)n;
	free(hide(global_block + 4096));
}

static void free_mmap(size_t n)
{
	char *p = mmap(0, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(92);
	p[0] = 1;
	free(hide(p + 16));
}

static void realloc_middle(size_t n)
{
	char *p = victim(n);
	free(hide(realloc(hide(p + 16), 2 * n)));
}

static void realloc_stack(size_t n)
{
	char local[64];
	memset(local, 1, sizeof local);
	free(hide(realloc(hide(local + 16), n)));
}

static void realloc_freed(size_t n)
{
	char *p = victim(n);
	free(p);
	free(hide(realloc(hide(p), 2 * n)));
}

/* --- writes outside the block --- */

static void write_bytes(char *at, size_t count, int with_memcpy)
{
	if (with_memcpy) {
		static char source[(1 << 20) + 64];
		memset(source, 0x41, count);
		memcpy(hide(at), source, count);
	} else {
		volatile char *v = at;
		for (size_t i = 0; i < count; i++)
			v[i] = 0x41;
	}
}

#define OVERFLOW(name, by, with_memcpy)      \
	static void name(size_t n)           \
	{                                    \
		char *p = victim(n);          \
		write_bytes(p + n, by, with_memcpy); \
		free(hide(p));               \
	}
OVERFLOW(overflow_1, 1, 0)
OVERFLOW(overflow_32, 32, 0)
OVERFLOW(overflow_32_memcpy, 32, 1)
OVERFLOW(overflow_1mib, 1 << 20, 0)
OVERFLOW(overflow_1mib_memcpy, 1 << 20, 1)

/* One byte past what malloc_usable_size says the block has: past the
 * block in every allocator's own accounting. */
static void overflow_usable_1(size_t n)
{
	char *p = victim(n);
	write_bytes(p + malloc_usable_size(p), 1, 0);
	free(hide(p));
}

#define UNDERFLOW(name, by, with_memcpy)     \
	static void name(size_t n)           \
	{                                    \
		char *p = victim(n);          \
		write_bytes(p - (by), by, with_memcpy); \
		free(hide(p));               \
	}
UNDERFLOW(underflow_1, 1, 0)
UNDERFLOW(underflow_32, 32, 0)
UNDERFLOW(underflow_32_memcpy, 32, 1)
UNDERFLOW(underflow_1mib_memcpy, 1 << 20, 1)

/* --- writes after free --- */

static void uaf_write_link(size_t n)
{
	char *p = victim(n);
	free(p);
	write_bytes(p, 16, 0);
}

static void uaf_write_all(size_t n)
{
	char *p = victim(n);
	free(p);
	write_bytes(p, n, 1);
}

/* Written after free, then handed out again: the program that reuses it
 * carries on with whatever the write left. */
static void uaf_write_then_reused(size_t n)
{
	char *p = victim(n);
	free(p);
	write_bytes(p, n < 64 ? n : 64, 0);
	for (int i = 0; i < 64; i++)
		alloc(n);
}

static void zero_size_write_after_free(size_t n)
{
	(void)victim(1); /* the neighbours of the smallest blocks */
	(void)n;
	char *p = hide(malloc(0));
	free(p);
	write_bytes(p, 16, 0);
}

static void zero_size_overflow(size_t n)
{
	(void)victim(1); /* the neighbours of the smallest blocks */
	(void)n;
	char *p = hide(malloc(0));
	write_bytes(p, 32, 0);
	free(hide(p));
}

/* --- C++ --- */

/* misuse_cxx.cpp: `delete` of what `new[]` made, for a type with a
 * destructor (free of a pointer 8 bytes into the block). */
void delete_of_new_array(size_t n);

static void delete_new_array(size_t n)
{
	(void)victim(n); /* its neighbours */
	delete_of_new_array(n);
}

struct kind {
	const char *name;
	void (*run)(size_t n);
};

static const struct kind kinds[] = {
	{ "none", no_misuse },
	{ "double-free", df_immediate },
	{ "double-free-interleaved", df_interleaved },
	{ "double-free-after-churn", df_after_churn },
	{ "double-free-in-thread", df_in_thread },
	{ "double-free-other-thread", df_other_thread },
	{ "double-free-realloc-zero", df_realloc_zero },
	{ "double-free-calloc", df_calloc },
	{ "double-free-aligned", df_aligned },
	{ "free-middle", free_middle },
	{ "free-plus-16", free_plus_16 },
	{ "free-unaligned", free_unaligned },
	{ "free-far", free_far },
	{ "free-stack", free_stack },
	{ "free-alloca", free_alloca },
	{ "free-static", free_static },
	{ "free-mmap", free_mmap },
	{ "realloc-middle", realloc_middle },
	{ "realloc-stack", realloc_stack },
	{ "realloc-freed", realloc_freed },
	{ "overflow-1", overflow_1 },
	{ "overflow-usable-1", overflow_usable_1 },
	{ "overflow-32", overflow_32 },
	{ "overflow-32-memcpy", overflow_32_memcpy },
	{ "overflow-1mib", overflow_1mib },
	{ "overflow-1mib-memcpy", overflow_1mib_memcpy },
	{ "underflow-1", underflow_1 },
	{ "underflow-32", underflow_32 },
	{ "underflow-32-memcpy", underflow_32_memcpy },
	{ "underflow-1mib-memcpy", underflow_1mib_memcpy },
	{ "use-after-free-write-link", uaf_write_link },
	{ "use-after-free-write-all", uaf_write_all },
	{ "use-after-free-write-then-reused", uaf_write_then_reused },
	{ "zero-size-write-after-free", zero_size_write_after_free },
	{ "zero-size-overflow", zero_size_overflow },
	{ "delete-of-new-array", delete_new_array },
};

#define KIND_COUNT (sizeof kinds / sizeof kinds[0])

static const struct {
	const char *name;
	size_t bytes;
} sizes[] = { { "small", 40 }, { "medium", 20000 }, { "large", 1100000 } };

#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])

/* The case's own end: what a case that nothing stopped prints and exits
 * with. */
#define WENT_THROUGH "went through"
#define OWN_EXIT 0
/* Under qemu-user a case takes well under a second. */
#define HANG_SECONDS 30

static int run_case(const struct kind *kind, size_t bytes)
{
	kind->run(bytes);
	go_on(bytes);
	if (printf("%s\n", WENT_THROUGH) < 0 || fflush(stdout))
		return 93;
	return OWN_EXIT;
}

/* Reads what the child wrote into `buf` (at most size - 1 bytes). */
static void read_all(int fd, char *buf, size_t size)
{
	size_t have = 0;
	ssize_t got;
	while (have + 1 < size && (got = read(fd, buf + have, size - 1 - have)) > 0)
		have += (size_t)got;
	buf[have] = 0;
	/* drain the rest, so the child never blocks on a full pipe */
	char sink[4096];
	while (read(fd, sink, sizeof sink) > 0) {
	}
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGABRT: return "SIGABRT";
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGTRAP: return "SIGTRAP";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGALRM: return "hung";
	default: return "signal";
	}
}

/* One case in a child; prints its line. */
static void run_child(const struct kind *kind, const char *size_name, size_t bytes)
{
	int out[2], err[2];
	if (pipe(out) || pipe(err)) {
		perror("pipe");
		exit(2);
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		close(out[1]);
		close(err[1]);
		/* A case that hangs (an allocator walking a corrupted list
		 * forever) ends by SIGALRM, reported as "hung". */
		alarm(HANG_SECONDS);
		_exit(run_case(kind, bytes));
	}
	close(out[1]);
	close(err[1]);
	/* The case writes little; stdout first, then stderr (a case that
	 * fills neither pipe cannot block on the other). */
	static char stdout_text[4096], stderr_text[4096];
	read_all(out[0], stdout_text, sizeof stdout_text);
	read_all(err[0], stderr_text, sizeof stderr_text);
	close(out[0]);
	close(err[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		exit(2);
	}
	const int went_through = WIFEXITED(status) && WEXITSTATUS(status) == OWN_EXIT &&
				 strstr(stdout_text, WENT_THROUGH "\n") != 0;
	char how[64];
	if (went_through)
		snprintf(how, sizeof how, WENT_THROUGH);
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "%s", signal_name(WTERMSIG(status)));
	else
		snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
	/* the first line of what it said on stderr */
	char *newline = strchr(stderr_text, '\n');
	if (newline)
		*newline = 0;
	const int hung = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
	printf("case %s %s %s %s | %s\n", kind->name, size_name,
	       went_through ? "missed" : hung ? "hung" : "caught", how, stderr_text);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list")) {
		for (size_t k = 0; k < KIND_COUNT; k++)
			for (size_t s = 0; s < SIZE_COUNT; s++)
				printf("%s %s\n", kinds[k].name, sizes[s].name);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "all")) {
		for (size_t k = 0; k < KIND_COUNT; k++)
			for (size_t s = 0; s < SIZE_COUNT; s++)
				run_child(&kinds[k], sizes[s].name, sizes[s].bytes);
		return 0;
	}
	if (argc == 3) {
		for (size_t k = 0; k < KIND_COUNT; k++)
			for (size_t s = 0; s < SIZE_COUNT; s++)
				if (!strcmp(argv[1], kinds[k].name) && !strcmp(argv[2], sizes[s].name))
					return run_case(&kinds[k], sizes[s].bytes);
	}
	fprintf(stderr, "usage: %s list | all | KIND SIZE\n", argv[0]);
	return 2;
}
