/* The sysroot's libatomic.a (lib/fallback/, linked with -latomic): four
 * threads update a 16-byte object with compare-and-swap and an 8-byte
 * counter with fetch_add. 16 bytes is beyond what most targets do inline,
 * so it goes through the library's generic, locked entry points; 8 bytes
 * does too on targets without 8-byte instructions. Lost updates show as
 * wrong totals. Prints "ok ..." and exits 0, or says what is wrong. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 100000

struct pair {
	uint64_t a, b;
};

static struct pair shared;
static uint64_t counter;

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct pair old, new;
		__atomic_load(&shared, &old, __ATOMIC_SEQ_CST);
		do {
			new.a = old.a + 1;
			new.b = old.b + 2;
		} while (!__atomic_compare_exchange(&shared, &old, &new, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST));
		__atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

int main(void)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], 0, worker, 0)) {
			printf("FAIL: pthread_create\n");
			return 1;
		}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], 0);
	struct pair end;
	__atomic_load(&shared, &end, __ATOMIC_SEQ_CST);
	uint64_t total = __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
	uint64_t want = (uint64_t)THREADS * ROUNDS;
	if (end.a != want || end.b != 2 * want || total != want) {
		printf("FAIL: a=%llu b=%llu counter=%llu, want %llu\n", (unsigned long long)end.a,
		       (unsigned long long)end.b, (unsigned long long)total, (unsigned long long)want);
		return 1;
	}
	printf("ok %llu updates, 16-byte lock-free: %d, 8-byte lock-free: %d\n",
	       (unsigned long long)want, __atomic_always_lock_free(16, 0),
	       __atomic_always_lock_free(8, 0));
	return 0;
}
