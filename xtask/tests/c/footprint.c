/* What the allocator gives back (xtask/tests/footprint.rs).
 *
 *   footprint idle MB BOUND_PERCENT WITHIN_MS
 *     4 threads allocate MB megabytes in mixed sizes (16 B to 1 MiB, every
 *     page written), free it all and stay alive, idle, as a server's pool
 *     does; the main thread then sleeps and reads its own RSS every 20 ms.
 *     Succeeds once RSS is at most BOUND_PERCENT of what it was with the
 *     burst allocated, fails after WITHIN_MS.
 *   footprint fork FORKS
 *     4 threads burst and free in a loop (so the idle purger has work and
 *     runs), while the main thread forks FORKS times; each child bursts,
 *     frees, checks its blocks and exits 0. Any other end of a child fails.
 *   footprint phases MB ROUNDS
 *     ROUNDS bursts of MB by 4 fresh threads each, everything freed between
 *     them, each round mostly in another size band, as a program under a
 *     memory limit does between requests of different kinds. Prints its peak.
 *
 * Output: "ok ..." on stdout, figures as name=value. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Rss:", 4) == 0)
			kib = strtol(line + 4, 0, 10);
	fclose(f);
	return kib;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0) {
	}
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Size bands, each taking an equal share of a burst's bytes, or `heavy`
 * five eighths of them. */
static const size_t bands[4][2] = {
	{ 16, 256 }, { 256, 8 << 10 }, { 8 << 10, 128 << 10 }, { 128 << 10, 1 << 20 },
};

struct burst {
	char **blocks;
	size_t count;
};

/* `bytes` in blocks of the four bands; every page written with `tag`. */
static struct burst burst_make(size_t bytes, uint64_t seed, int heavy)
{
	struct burst b = { 0, 0 };
	size_t made[4] = { 0 }, share[4], cap = 1024;
	for (int i = 0; i < 4; i++)
		share[i] = heavy < 0 ? bytes / 4 : i == heavy ? bytes / 8 * 5 : bytes / 8;
	b.blocks = malloc(cap * sizeof *b.blocks);
	if (!b.blocks)
		abort();
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (int more = 1; more;) {
		more = 0;
		for (int i = 0; i < 4; i++) {
			if (made[i] >= share[i])
				continue;
			more = 1;
			size_t size = bands[i][0] + next(&s) % (bands[i][1] - bands[i][0]);
			char *p = malloc(size);
			if (!p)
				abort();
			for (size_t at = 0; at < size; at += 4096)
				p[at] = (char)seed;
			p[size - 1] = (char)seed;
			if (b.count == cap) {
				cap *= 2;
				b.blocks = realloc(b.blocks, cap * sizeof *b.blocks);
				if (!b.blocks)
					abort();
			}
			b.blocks[b.count++] = p;
			made[i] += size;
		}
	}
	return b;
}

static void burst_free(struct burst *b, uint64_t seed)
{
	for (size_t i = 0; i < b->count; i++) {
		if (b->blocks[i][0] != (char)seed)
			abort();
		free(b->blocks[i]);
	}
	free(b->blocks);
	b->blocks = 0;
	b->count = 0;
}

/* --- idle --- */

static pthread_barrier_t allocated, freed, done;
static size_t idle_share;

static void *idle_worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 1;
	struct burst b = burst_make(idle_share, seed, -1);
	pthread_barrier_wait(&allocated);
	burst_free(&b, seed);
	pthread_barrier_wait(&freed);
	pthread_barrier_wait(&done); /* idle, alive, until the main thread is done */
	return 0;
}

static int idle(long mb, long bound_percent, long within_ms)
{
	pthread_t t[THREADS];
	idle_share = (size_t)mb * 1000000 / THREADS;
	pthread_barrier_init(&allocated, 0, THREADS + 1);
	pthread_barrier_init(&freed, 0, THREADS + 1);
	pthread_barrier_init(&done, 0, THREADS + 1);
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], 0, idle_worker, (void *)i))
			abort();
	pthread_barrier_wait(&allocated);
	long burst = rss_kib();
	long bound_kib = burst / 100 * bound_percent;
	pthread_barrier_wait(&freed);
	long waited = 0, now = rss_kib();
	while (now > bound_kib && waited < within_ms) {
		sleep_ms(20);
		waited += 20;
		now = rss_kib();
	}
	pthread_barrier_wait(&done);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], 0);
	if (now > bound_kib) {
		printf("FAIL idle: burst_kib=%ld rss_kib=%ld after %ld ms, bound %ld\n",
		       burst, now, waited, bound_kib);
		return 1;
	}
	printf("ok idle: burst_kib=%ld rss_kib=%ld after_ms=%ld\n", burst, now, waited);
	return 0;
}

/* --- fork --- */

static volatile int stop;

static void *churn_worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 11;
	while (!stop) {
		struct burst b = burst_make(4 << 20, seed, (int)(seed % 4));
		burst_free(&b, seed);
		seed++;
		sleep_ms(5); /* room for purges to fall due */
	}
	return 0;
}

static int forks(long count)
{
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], 0, churn_worker, (void *)i))
			abort();
	for (long i = 0; i < count; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			struct burst b = burst_make(2 << 20, 99, (int)(i % 4));
			burst_free(&b, 99);
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("FAIL fork %ld: child status %d\n", i, status);
			return 1;
		}
		if (i % 16 == 0)
			sleep_ms(20); /* let purges fall due, so some forks meet one */
	}
	stop = 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], 0);
	printf("ok %ld forks\n", count);
	return 0;
}

/* --- phases --- */

static pthread_barrier_t live;
static size_t phase_share;
static int phase_round;

static void *phase_worker(void *arg)
{
	uint64_t seed = (uint64_t)phase_round * THREADS + (uintptr_t)arg + 1;
	struct burst b = burst_make(phase_share, seed, phase_round % 4);
	pthread_barrier_wait(&live);
	pthread_barrier_wait(&live);
	burst_free(&b, seed);
	return 0;
}

static int phases(long mb, long rounds)
{
	long peak = 0;
	phase_share = (size_t)mb * 1000000 / THREADS;
	pthread_barrier_init(&live, 0, THREADS + 1);
	for (phase_round = 0; phase_round < rounds; phase_round++) {
		pthread_t t[THREADS];
		for (long i = 0; i < THREADS; i++)
			if (pthread_create(&t[i], 0, phase_worker, (void *)i))
				abort();
		pthread_barrier_wait(&live);
		long now = rss_kib();
		if (now > peak)
			peak = now;
		pthread_barrier_wait(&live);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], 0);
	}
	printf("ok phases: rounds=%ld peak_kib=%ld\n", rounds, peak);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "idle") == 0)
		return idle(atol(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "fork") == 0)
		return forks(atol(argv[2]));
	if (argc == 4 && strcmp(argv[1], "phases") == 0)
		return phases(atol(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: see the header of footprint.c\n");
	return 2;
}
