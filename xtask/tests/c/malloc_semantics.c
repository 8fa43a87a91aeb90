/* malloc's contract, checked against the sysroot's libc: edge cases, errno,
 * alignment rules, usable sizes, and the musl-internal allocation paths
 * (__libc_malloc & co. through locale, atexit, posix_spawn, time zones).
 * Prints "ok N checks" and exits 0, or names the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int checks;

#define CHECK(cond) do { \
	checks++; \
	if (!(cond)) { \
		fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

/* Keeps the compiler from folding calls with constant arguments. */
static size_t opaque(size_t n)
{
	volatile size_t v = n;
	return v;
}

static void at_exit_handler(void) {}

int main(void)
{
	/* malloc(0): a unique, freeable pointer. */
	void *z1 = malloc(opaque(0)), *z2 = malloc(opaque(0));
	CHECK(z1 && z2 && z1 != z2);
	free(z1);
	free(z2);
	free(NULL);

	/* realloc(NULL, n) is malloc(n); realloc(p, 0) in musl returns a
	 * minimal block (not NULL) and frees p. */
	char *r = realloc(NULL, opaque(100));
	CHECK(r != NULL);
	memset(r, 'a', 100);
	r = realloc(r, opaque(100000));
	CHECK(r && r[0] == 'a' && r[99] == 'a');
	r = realloc(r, opaque(10));
	CHECK(r && r[9] == 'a');
	r = realloc(r, opaque(0));
	CHECK(r != NULL);
	free(r);

	/* Overflow and huge sizes: NULL with ENOMEM, old block untouched. */
	errno = 0;
	CHECK(calloc(opaque(SIZE_MAX / 2), opaque(3)) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(malloc(opaque(SIZE_MAX)) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(malloc(opaque((size_t)PTRDIFF_MAX + 1)) == NULL && errno == ENOMEM);
	char *keep = malloc(16);
	strcpy(keep, "still here");
	errno = 0;
	CHECK(realloc(keep, opaque(SIZE_MAX - 4096)) == NULL && errno == ENOMEM);
	CHECK(strcmp(keep, "still here") == 0);
	free(keep);
	errno = 0;
	CHECK(reallocarray(NULL, opaque(SIZE_MAX / 4), opaque(8)) == NULL && errno == ENOMEM);

	/* calloc zeroes, also memory that was used and freed before. */
	for (int round = 0; round < 4; round++) {
		size_t n = opaque(1000 << (round * 4));
		unsigned char *dirty = malloc(n);
		memset(dirty, 0xAB, n);
		free(dirty);
		unsigned char *clean = calloc(n, 1);
		CHECK(clean != NULL);
		for (size_t i = 0; i < n; i += 61) CHECK(clean[i] == 0);
		CHECK(clean[n - 1] == 0);
		free(clean);
	}

	/* Alignment rules: aligned_alloc wants a power of two (EINVAL
	 * otherwise); posix_memalign also wants a multiple of sizeof(void *)
	 * and reports errors as its return value. */
	errno = 0;
	CHECK(aligned_alloc(opaque(3), 16) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(aligned_alloc(opaque(0), 16) == NULL && errno == EINVAL);
	for (size_t a = 1; a <= (1u << 20); a <<= 1) {
		void *p = aligned_alloc(opaque(a), opaque(a * 3 + 1));
		CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0);
		CHECK(malloc_usable_size(p) >= a * 3 + 1);
		free(p);
	}
	void *pm = (void *)0x1;
	CHECK(posix_memalign(&pm, opaque(sizeof(void *) / 2), 8) == EINVAL);
	CHECK(posix_memalign(&pm, opaque(24), 8) == EINVAL);
	CHECK(pm == (void *)0x1); /* untouched on error */
	CHECK(posix_memalign(&pm, opaque(64), 100) == 0 && ((uintptr_t)pm & 63) == 0);
	free(pm);
	void *ma = memalign(opaque(256), 10);
	CHECK(ma && ((uintptr_t)ma & 255) == 0);
	free(ma);
	long page = sysconf(_SC_PAGESIZE);
	void *va = valloc(opaque(10));
	CHECK(va && ((uintptr_t)va & (page - 1)) == 0);
	free(va);
	/* C17 7.22.3: a block is aligned for any object of fundamental
	 * alignment that fits in it: 16 bytes (max_align_t on x86_64 and
	 * aarch64) from 16 bytes up, the largest power of two <= n below. */
	for (size_t n = 1; n < 300; n++) {
		size_t need = 16;
		while (need > n) need /= 2;
		void *p = malloc(opaque(n));
		CHECK(((uintptr_t)p & (need - 1)) == 0);
		free(p);
	}

	/* Usable size covers the request; NULL has none. */
	CHECK(malloc_usable_size(NULL) == 0);
	for (size_t n = 1; n < (64u << 20); n = n * 3 + 1) {
		unsigned char *p = malloc(opaque(n));
		size_t usable = malloc_usable_size(p);
		CHECK(p && usable >= n);
		memset(p, 0x5A, usable); /* all of it may be written */
		free(p);
	}

	/* strdup/strndup are musl's and allocate with malloc. */
	char *d = strdup("fastmusl");
	char *dn = strndup("fastmusl", 4);
	CHECK(d && dn && strcmp(d, "fastmusl") == 0 && strcmp(dn, "fast") == 0);
	free(d);
	free(dn);

	/* musl-internal users of __libc_malloc/__libc_calloc/__libc_free. */
	locale_t loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
	CHECK(loc != (locale_t)0);
	locale_t dup = duplocale(loc);
	CHECK(dup != (locale_t)0);
	freelocale(dup);
	freelocale(loc);
	for (int i = 0; i < 100; i++) /* past musl's 32 static slots */
		CHECK(atexit(at_exit_handler) == 0);
	posix_spawn_file_actions_t fa;
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	for (int i = 0; i < 50; i++)
		CHECK(posix_spawn_file_actions_addopen(&fa, 3, "/dev/null", 0, 0) == 0);
	CHECK(posix_spawn_file_actions_destroy(&fa) == 0);
	/* A long TZ string is copied into memory from __libc_malloc. */
	setenv("TZ", "FASTMUSLSTANDARDTIMEZONENAMETHATISLONG-3FASTMUSLDAYLIGHTTIMEZONENAME,M3.5.0,M10.5.0", 1);
	tzset();
	time_t t = 0;
	struct tm tm;
	CHECK(localtime_r(&t, &tm) != NULL && tm.tm_hour == 3);
	setenv("TZ", "UTC0", 1);
	tzset();

	printf("ok %d checks\n", checks);
	return 0;
}
