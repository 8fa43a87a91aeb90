/* Fork while another thread holds one of mimalloc's locks, on purpose.
 *
 * A stress test only rarely forks at the moment a lock is held. This one
 * makes that moment certain: it links the glue object as compiled, before
 * its symbols were made local, so it can reach two mimalloc API calls that
 * run a caller's callback while holding a lock:
 *   mi_subproc_visit_heaps  holds subproc_main.heaps_lock around the visitor;
 *   mi_register_output      holds out_buf_lock around the output function.
 * A helper thread enters the callback and stays there for a while; the main
 * thread forks as soon as the callback has started. The child then takes
 * the same lock. With musl's fork calling __malloc_atfork, fork waits until
 * the lock is free and the child proceeds; without it, the child inherits a
 * held lock and hangs, which the parent reports after CHILD_TIMEOUT_S.
 *
 * The test suite also links this program with
 * -Wl,--defsym=__malloc_atfork=no_malloc_atfork (the naive allocator swap)
 * and expects the hang to be reported: the test can fail.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mimalloc.h"

#define CHILD_TIMEOUT_S 5

static atomic_int in_callback;

/* Stand-in for a libc without mimalloc fork handling (see above). */
void no_malloc_atfork(int who)
{
	(void)who;
}

static void linger(void)
{
	atomic_store(&in_callback, 1);
	struct timespec t = {0, 300 * 1000 * 1000};
	nanosleep(&t, NULL);
}

static bool slow_visitor(mi_heap_t *heap, void *arg)
{
	(void)heap;
	(void)arg;
	linger();
	return true;
}

static void slow_output(const char *msg, void *arg)
{
	(void)msg;
	(void)arg;
	linger();
}

static void quiet_output(const char *msg, void *arg)
{
	(void)msg;
	(void)arg;
}

static bool quick_visitor(mi_heap_t *heap, void *arg)
{
	(void)heap;
	(void)arg;
	return true;
}

static void *hold_heaps_lock(void *arg)
{
	(void)arg;
	mi_subproc_visit_heaps(mi_subproc_main(), slow_visitor, NULL);
	return NULL;
}

static void *hold_output_lock(void *arg)
{
	(void)arg;
	mi_register_output(slow_output, NULL);
	return NULL;
}

static int fork_while_held(const char *what, void *(*holder)(void *), void (*in_child)(void))
{
	atomic_store(&in_callback, 0);
	pthread_t t;
	if (pthread_create(&t, NULL, holder, NULL) != 0) return -1;
	while (!atomic_load(&in_callback)) sched_yield();
	pid_t pid = fork();
	if (pid == 0) {
		in_child();
		free(malloc(100));
		_exit(0);
	}
	int status = 0, waited = 0;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited++ > CHILD_TIMEOUT_S * 100) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "FAILED: the child hung taking %s, held by a parent thread at fork\n", what);
			return -1;
		}
		usleep(10 * 1000);
	}
	pthread_join(t, NULL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAILED: child status 0x%x (%s)\n", status, what);
		return -1;
	}
	printf("ok: fork while another thread held %s\n", what);
	return 0;
}

static void child_visits_heaps(void)
{
	mi_subproc_visit_heaps(mi_subproc_main(), quick_visitor, NULL);
}

static void child_flushes_output(void)
{
	mi_register_output(quiet_output, NULL);
}

int main(void)
{
	if (fork_while_held("subproc_main.heaps_lock", hold_heaps_lock, child_visits_heaps)) return 1;
	if (fork_while_held("out_buf_lock", hold_output_lock, child_flushes_output)) return 1;
	return 0;
}
