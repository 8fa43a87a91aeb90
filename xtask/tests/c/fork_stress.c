/* Fork from a busy multithreaded parent. Worker threads allocate, free
 * blocks that other threads allocated, start and end threads, and take
 * blocks big enough to be mapped directly; meanwhile the main thread forks
 * FORKS times; one more thread only starts and ends threads. Each child allocates in several size classes, starts a
 * thread that allocates (taking the heap locks a thread start takes), and
 * leaves through exit() (running mimalloc's process-done path). A child
 * that has not finished within CHILD_TIMEOUT_S is reported as hung and the
 * program fails; so does a parent hang, through the test's own timeout.
 *
 * usage: fork_stress [FORKS] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define SLOTS 1024
#define CHILD_TIMEOUT_S 20

static _Atomic(void *) shared_slots[SLOTS];
static atomic_int stop;

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *short_lived(void *arg)
{
	void *p = malloc((size_t)(uintptr_t)arg);
	free(p);
	return NULL;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&stop)) {
		unsigned r = next_rand(&seed);
		size_t size;
		switch (r % 16) {
		case 0: size = 8u << 20; break;          /* mapped directly */
		case 1: case 2: size = 64u << 10; break; /* medium */
		default: size = 16 + r % 1024; break;    /* small */
		}
		char *p = malloc(size);
		if (!p) abort();
		p[0] = p[size - 1] = 1;
		/* Swap into a shared slot: the old block, likely from another
		 * thread, is freed here (cross-thread free). */
		void *old = atomic_exchange(&shared_slots[r % SLOTS], p);
		free(old);
		if (r % 64 == 0) {
			pthread_t t;
			if (pthread_create(&t, NULL, short_lived, (void *)(uintptr_t)(32 + r % 4096)) == 0)
				pthread_join(t, NULL);
		}
	}
	return NULL;
}

/* Starts and ends threads back to back: each start and exit takes the
 * allocator's heap-list lock, which a child must be able to take again. */
static void *thread_churner(void *arg)
{
	(void)arg;
	unsigned n = 0;
	while (!atomic_load(&stop)) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, (void *)(uintptr_t)(16 + n++ % 2048)) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) free(malloc(16 + i * 40));
	return NULL;
}

static void child_main(void)
{
	void *blocks[6];
	size_t sizes[6] = {16, 200, 3000, 70000, 1 << 20, 9 << 20};
	for (int i = 0; i < 6; i++) {
		blocks[i] = malloc(sizes[i]);
		if (!blocks[i]) _exit(3);
		memset(blocks[i], 0x11, sizes[i] < 4096 ? sizes[i] : 4096);
	}
	pthread_t t;
	if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(4);
	pthread_join(t, NULL);
	for (int i = 0; i < 6; i++) free(blocks[i]);
	exit(0);
}

static int wait_child(pid_t pid, int n)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int status;
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
			fprintf(stderr, "FAILED: child %d ended with status 0x%x\n", n, status);
			return -1;
		}
		if (got < 0) { perror("waitpid"); return -1; }
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > CHILD_TIMEOUT_S) {
			fprintf(stderr, "FAILED: child %d hung (no exit after %d s)\n", n, CHILD_TIMEOUT_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(200);
	}
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 1000;
	pthread_t workers[WORKERS], churner;
	for (int i = 0; i < WORKERS; i++)
		if (pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)(i * 7919 + 1)) != 0) {
			perror("pthread_create");
			return 1;
		}
	if (pthread_create(&churner, NULL, thread_churner, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	for (int n = 0; n < forks; n++) {
		pid_t pid = fork();
		if (pid < 0) { perror("fork"); return 1; }
		if (pid == 0) child_main();
		if (wait_child(pid, n) != 0) return 1;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
	pthread_join(churner, NULL);
	for (int i = 0; i < SLOTS; i++) free(atomic_load(&shared_slots[i]));
	printf("ok %d forks from a parent with %d busy threads\n", forks, WORKERS + 1);
	return 0;
}
