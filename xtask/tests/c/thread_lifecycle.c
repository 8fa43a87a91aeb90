/* Threads and the allocator's per-thread state:
 * - allocation in a constructor, before main and possibly before the
 *   allocator's own initialisation;
 * - CYCLES thread create/exit cycles, each thread allocating (some blocks
 *   freed by the thread, some handed to main and freed there) and
 *   allocating again from a thread-specific-data destructor while the
 *   thread is being torn down;
 * - resident memory after all cycles must stay within a bound of the
 *   resident memory after the first tenth: exited threads' heaps are
 *   released or reused, not leaked.
 *
 * usage: thread_lifecycle [CYCLES] [--no-rss-check]
 * (--no-rss-check under qemu-user, whose own per-thread memory shows up in
 * the process's resident size: stock musl grows the same way there.) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *from_constructor;

__attribute__((constructor(101))) static void early(void)
{
	from_constructor = malloc(100);
	if (from_constructor) strcpy(from_constructor, "allocated before main");
}

static pthread_key_t key;

static void tsd_destructor(void *value)
{
	/* Runs during thread exit: allocate and free while the thread's
	 * allocator state is being torn down. */
	char *p = malloc(333);
	if (p) memset(p, 1, 333);
	free(p);
	free(value);
}

static void *thread_main(void *arg)
{
	size_t n = (size_t)(uintptr_t)arg;
	void *local[32];
	for (int i = 0; i < 32; i++) local[i] = malloc(16 + (n + i * 97) % 3000);
	for (int i = 0; i < 32; i++) free(local[i]);
	pthread_setspecific(key, malloc(48));
	return malloc(64 + n % 512); /* freed by main */
}

static long resident_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = 0;
	if (!f) return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
	int cycles = argc > 1 ? atoi(argv[1]) : 10000;
	int rss_check = !(argc > 2 && strcmp(argv[2], "--no-rss-check") == 0);
	if (!from_constructor || strcmp(from_constructor, "allocated before main") != 0) {
		fprintf(stderr, "FAILED: allocation in a constructor\n");
		return 1;
	}
	free(from_constructor);
	pthread_key_create(&key, tsd_destructor);

	long rss_early = 0;
	for (int i = 0; i < cycles; i++) {
		pthread_t t;
		void *ret;
		if (pthread_create(&t, NULL, thread_main, (void *)(uintptr_t)i) != 0) {
			perror("pthread_create");
			return 1;
		}
		pthread_join(t, &ret);
		free(ret);
		if (i == cycles / 10) rss_early = resident_kib();
	}
	long rss_end = resident_kib();
	printf("resident after %d cycles: %ld KiB; after %d: %ld KiB\n",
	       cycles / 10, rss_early, cycles, rss_end);
	if (!rss_check) {
		printf("ok %d thread cycles (resident size not checked)\n", cycles);
		return 0;
	}
	if (rss_early <= 0 || rss_end <= 0) {
		fprintf(stderr, "FAILED: cannot read /proc/self/statm\n");
		return 1;
	}
	/* 10k exited threads with leaked heaps would hold tens of MiB. */
	if (rss_end > rss_early + 8 * 1024) {
		fprintf(stderr, "FAILED: resident memory grew from %ld to %ld KiB\n", rss_early, rss_end);
		return 1;
	}
	printf("ok %d thread cycles\n", cycles);
	return 0;
}
