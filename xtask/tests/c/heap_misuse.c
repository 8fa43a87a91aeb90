/* Heap misuse from C, one kind per run, as a program with a bug would do
 * it. Each mode prints "misused: MODE" (flushed) right after the misuse and
 * exits 0 if nothing stops it: what happens is the allocator's doing, and
 * the test reads it from the exit status and stderr.
 *
 *   double-free            frees a block twice (other blocks of its size
 *                          stay live, so its page is not simply retired),
 *                          then exits, as the program of a user's report
 *                          did: it printed its output, then spun at exit
 *   double-free-in-thread  the same in a thread, which then exits
 *   overflow               writes 64 bytes past the end of a block whose
 *                          neighbours are free, over their free-list links,
 *                          frees it, then allocates (when links are read)
 *   use-after-free         writes into a freed block, over its link, then
 *                          allocates
 *
 * Pointers pass through a volatile variable: the compiler may otherwise
 * drop a malloc/free pair it can see, and with it the misuse.
 *
 * usage: heap_misuse MODE */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 48
#define LIVE 32
/* Enough allocations of SIZE to use up several pages' free lists, so the
 * corrupted links are followed whatever order the allocator hands out. */
#define CHURN 20000

static void *volatile opaque;

static void *hide(void *p)
{
	opaque = p;
	return opaque;
}

static void misused(const char *mode)
{
	printf("misused: %s\n", mode);
	fflush(stdout);
}

static void churn(void)
{
	static void *blocks[CHURN];
	for (int i = 0; i < CHURN; i++) {
		blocks[i] = hide(malloc(SIZE));
		if (blocks[i]) memset(blocks[i], 0x5a, SIZE);
	}
	for (int i = 0; i < CHURN; i++) free(blocks[i]);
}

static void *double_free(void *mode)
{
	void *live[LIVE];
	for (int i = 0; i < LIVE; i++) live[i] = hide(malloc(SIZE));
	char *p = hide(malloc(SIZE));
	free(p);
	free(hide(p));
	misused(mode);
	return live[0];
}

static void overflow(void)
{
	void *neighbours[LIVE];
	for (int i = 0; i < LIVE; i++) neighbours[i] = hide(malloc(SIZE));
	char *p = hide(malloc(SIZE));
	for (int i = 0; i < LIVE; i++) free(neighbours[i]);
	/* The block's usable size, then 64 bytes more: what follows it in its
	 * page (padding, the next blocks' links). */
	memset(p, 0x41, malloc_usable_size(p) + 64);
	misused("overflow");
	free(p);
	churn();
}

static void use_after_free(void)
{
	char *p = hide(malloc(SIZE));
	free(p);
	memset(hide(p), 0x41, 16);
	misused("use-after-free");
	churn();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "double-free")) {
		double_free((void *)mode);
	} else if (!strcmp(mode, "double-free-in-thread")) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, 0, double_free, (void *)mode) || pthread_join(t, &r)) {
			fputs("FAIL: thread\n", stderr);
			return 2;
		}
	} else if (!strcmp(mode, "overflow")) {
		overflow();
	} else if (!strcmp(mode, "use-after-free")) {
		use_after_free();
	} else {
		fprintf(stderr, "usage: %s double-free|double-free-in-thread|overflow|use-after-free\n", argv[0]);
		return 2;
	}
	puts("exiting normally");
	return 0;
}
