#define _GNU_SOURCE
/* Threads created without a stack size, for xtask/tests/thread_stacks.rs:
 *
 *   thread_stacks deep KIB    a thread recurses through KIB KiB of stack
 *                             and prints "ok" (or dies: the stack was
 *                             smaller, and the guard page caught it)
 *   thread_stacks idle N      N threads that wait; prints "threads N",
 *                             "rss_kib K" (VmRSS with all of them up),
 *                             "stack_kib S" (a thread's default stack)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 KiB of stack per level, alive across the call (no tail call). */
__attribute__((noinline)) static int recurse(int kib, volatile char *up)
{
	volatile char frame[1024];
	frame[0] = (char)kib;
	frame[sizeof frame - 1] = up ? up[0] : 0;
	if (kib <= 1) return frame[0];
	int below = recurse(kib - 1, frame);
	return below + frame[sizeof frame - 1];
}

static void *deep(void *arg)
{
	int kib = *(int *)arg;
	return (void *)(long)recurse(kib, 0);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started, released;

static void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	started++;
	pthread_cond_broadcast(&cond);
	while (!released) pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return 0;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
	if (f) fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	if (argc != 3) return 2;
	int n = atoi(argv[2]);
	if (!strcmp(argv[1], "deep")) {
		pthread_t t;
		if (pthread_create(&t, 0, deep, &n)) return perror("pthread_create"), 1;
		pthread_join(t, 0);
		printf("ok\n");
		return 0;
	}
	pthread_attr_t attr;
	size_t stack = 0;
	pthread_getattr_default_np(&attr);
	pthread_attr_getstacksize(&attr, &stack);
	pthread_t *threads = calloc(n, sizeof *threads);
	for (int i = 0; i < n; i++)
		if (pthread_create(&threads[i], 0, idle, 0)) return perror("pthread_create"), 1;
	pthread_mutex_lock(&lock);
	while (started < n) pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	long rss = rss_kib();
	pthread_mutex_lock(&lock);
	released = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n; i++) pthread_join(threads[i], 0);
	printf("threads %d\nrss_kib %ld\nstack_kib %zu\n", n, rss, stack / 1024);
	return 0;
}
