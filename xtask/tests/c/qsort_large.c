/* CVE-2026-40200 (musl commits 228da39e, b3291b9a, 5122f9f3): smoothsort's
 * two-word "count trailing zeros" returned 0 instead of the low word's width
 * when the first set bit was bit 0 of the high word. That happens once two
 * Leonardo heaps lie 32 orders apart, which on a 32-bit target takes
 * L(33) + 1 = 11,405,774 elements (on 64-bit ones the same state needs more
 * elements than memory holds).
 *
 * Whether the wrong 0 ever reaches the sort depends on musl's a_ctz_l(0) on
 * the architecture: x86's bsf and armv6's 31 - clz(x & -x) (which is -1)
 * give something other than the word's width, and stock 1.2.6 loops (i686,
 * ordered input) or leaves the array unsorted (armv6, perturbed input);
 * armv7's rbit+clz gives 32, which happens to be what the fixed code
 * returns, so stock 1.2.6 sorts correctly there.
 *
 * Usage: qsort_large N ordered|perturbed
 * Sorts N one-byte elements with qsort_r and checks the result is ordered
 * and holds the same bytes. Perturbed input is ordered input with about one
 * element in 1,024 replaced by a random byte: the sort has real work to do
 * (a wrong step shows as disorder), yet stays near smoothsort's linear best
 * case, so it takes seconds under an emulator rather than the minute a
 * shuffled array of this size takes. (Which Leonardo heaps exist at each
 * step depends only on N, not on the data.) Built with -DSTOCK_QSORT (and musl's internal
 * headers), it calls stock 1.2.6's qsort.c compiled as stock_qsort_r, the
 * control that shows this program reaches the bug, and `qsort_large ctz0`
 * prints what musl's a_ctz_l(0) gives on this architecture. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef STOCK_QSORT
#include "atomic.h"
void stock_qsort_r(void *, size_t, size_t, int (*)(const void *, const void *, void *), void *);
#define qsort_r stock_qsort_r
#endif

static int compare_bytes(const void *a, const void *b, void *arg)
{
	(void)arg;
	return *(const unsigned char *)a - *(const unsigned char *)b;
}

int main(int argc, char **argv)
{
#ifdef STOCK_QSORT
	if (argc == 2 && strcmp(argv[1], "ctz0") == 0) {
		volatile unsigned long zero = 0;
		printf("%d\n", a_ctz_l(zero));
		return 0;
	}
#endif
	if (argc != 3) {
		fprintf(stderr, "usage: qsort_large N ordered|perturbed\n");
		return 2;
	}
	size_t n = strtoul(argv[1], 0, 10);
	int perturbed = strcmp(argv[2], "perturbed") == 0;
	unsigned char *a = malloc(n);
	size_t count[256] = { 0 };
	unsigned long long x = 88172645463325252ull;
	if (!a) {
		perror("malloc");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a[i] = (unsigned char)(i * 256 / n);
		if (perturbed && (x & 1023) == 0)
			a[i] = (unsigned char)(x >> 20);
		count[a[i]]++;
	}
	qsort_r(a, n, 1, compare_bytes, 0);
	for (size_t i = 1; i < n; i++) {
		if (a[i - 1] > a[i]) {
			printf("FAIL: out of order at %zu\n", i);
			return 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		count[a[i]]--;
	for (int c = 0; c < 256; c++) {
		if (count[c]) {
			printf("FAIL: the sort lost or duplicated bytes of value %d\n", c);
			return 1;
		}
	}
	printf("ok %zu %s\n", n, argv[2]);
	return 0;
}
