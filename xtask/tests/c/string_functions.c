/* The string functions fastmusl replaces, against byte-loop references:
 *
 * - memcpy, memmove: every size 0..512 x source and destination
 *   misalignment 0..63; memmove also with the destination overlapping the
 *   source from below and from above; random sizes up to 8 MiB;
 * - memset: every size 0..512 x misalignment 0..63, random large sizes;
 * - memcmp (and bcmp): every size 0..512 x both misalignments, equal and
 *   with one differing byte at the start, middle and end, the sign checked
 *   with bytes >= 0x80 against bytes < 0x80, then with a later difference
 *   of the opposite sign too (the first one must decide);
 * - strlen, memchr: every length 0..512 x misalignment 0..63, memchr also
 *   with the needle in the 64 bytes before the start;
 * - strlen, memchr, memcmp at a guard page: the last byte they may look at
 *   is the last byte before a PROT_NONE page, for every start in 1 KiB.
 *
 * Argument "quick" (for emulators) steps misalignments by 7 instead of 1.
 * Prints the variant libc chose (x86_64: its features word; aarch64:
 * AdvSIMD, SVE or MOPS), then "ok". */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX 512
#define PAD 192

static int step = 1;
static unsigned long failures;

#define FAIL(...)                                                              \
	do {                                                                   \
		if (failures++ < 20) {                                         \
			printf("FAIL " __VA_ARGS__);                           \
			putchar('\n');                                         \
		}                                                              \
	} while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* References. -fno-builtin keeps the compiler from turning them into
 * calls to the functions under test. */
static void ref_move(unsigned char *d, const unsigned char *s, size_t n)
{
	if (d < s)
		for (size_t i = 0; i < n; i++) d[i] = s[i];
	else
		for (size_t i = n; i--;) d[i] = s[i];
}

static int same(const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) return 0;
	return 1;
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) p[i] = (unsigned char)next();
}

/* The area the small cases work in, its expected contents, and the
 * random pattern both start from. Each case checks and restores only the
 * window it may have touched (plus 64 bytes either side); a whole-area
 * comparison after each size catches a write anywhere else. */
static unsigned char area[2 * (MAX + 2 * PAD)], expect[sizeof area], orig[sizeof area];

static void reset(void)
{
	fill(orig, sizeof orig);
	ref_move(area, orig, sizeof area);
	ref_move(expect, orig, sizeof area);
}

static int window_ok(const unsigned char *lo, const unsigned char *hi)
{
	size_t from = lo - area >= 64 ? (size_t)(lo - area) - 64 : 0;
	size_t to = (size_t)(hi - area) + 64 < sizeof area ? (size_t)(hi - area) + 64 : sizeof area;
	int ok = same(area + from, expect + from, to - from);
	ref_move(area + from, orig + from, to - from);
	ref_move(expect + from, orig + from, to - from);
	return ok;
}

static void whole_area_ok(const char *what, size_t n)
{
	if (!same(area, expect, sizeof area)) FAIL("%s n=%zu wrote outside its window", what, n);
	reset();
}

static void copies(void)
{
	unsigned char *src = area + PAD, *dst = area + MAX + 2 * PAD;
	reset();
	for (size_t n = 0; n <= MAX; n++) {
		for (int a = 0; a < 64; a += step)
			for (int b = 0; b < 64; b += step) {
				ref_move(expect + (dst - area) + b, src + a, n);
				if (memcpy(dst + b, src + a, n) != dst + b || !window_ok(dst + b, dst + b + n))
					FAIL("memcpy n=%zu src+%d dst+%d", n, a, b);
			}
		whole_area_ok("memcpy", n);
	}
	/* memmove in one buffer: dst - src is b - a + shift, so both
	 * directions, overlapping by all but a few bytes up to by half. */
	for (size_t n = 0; n <= MAX; n++) {
		for (int a = 0; a < 64; a += step)
			for (int b = 0; b < 64; b += step)
				for (int placement = 0; placement < 3; placement++) {
					long shift = placement == 0 ? 0 : placement == 1 ? (long)n / 2 : -(long)n / 2;
					unsigned char *s = area + PAD + 128 + a, *d = area + PAD + 128 + b + shift;
					ref_move(expect + (d - area), expect + (s - area), n);
					int ok = memmove(d, s, n) == d;
					if (!window_ok(s < d ? s : d, (s < d ? d : s) + n) || !ok)
						FAIL("memmove n=%zu src+%d dst+%d shift %ld", n, a, b, shift);
				}
		whole_area_ok("memmove", n);
	}
}

static void big_copies(void)
{
	size_t cap = 8 << 20, size = 2 * cap + 128;
	unsigned char *x = malloc(size), *y = malloc(size);
	fill(x, size);
	ref_move(y, x, size);
	for (int round = 0; round < 24; round++) {
		size_t n = next() % cap, a = next() % 64, b = next() % 64;
		/* Apart; destination ahead inside the source; source ahead. */
		size_t s_off = a + (round % 3 == 2 ? n / 3 : 0);
		size_t d_off = b + (round % 3 == 0 ? cap : round % 3 == 1 ? n / 2 : 0);
		ref_move(y + d_off, y + s_off, n);
		memmove(x + d_off, x + s_off, n);
		if (!same(x, y, size)) FAIL("memmove big n=%zu src+%zu dst+%zu", n, s_off, d_off);
		if (round % 3 == 0) {
			ref_move(y + s_off, y + d_off, n);
			memcpy(x + s_off, x + d_off, n);
			if (!same(x, y, size)) FAIL("memcpy big n=%zu", n);
		}
		int c = (int)(next() & 255);
		memset(x + a, c, n);
		for (size_t i = 0; i < n; i++) y[a + i] = (unsigned char)c;
		if (!same(x, y, size)) FAIL("memset big n=%zu +%zu", n, a);
	}
	free(x);
	free(y);
}

static void sets(void)
{
	reset();
	for (size_t n = 0; n <= MAX; n++) {
		for (int a = 0; a < 64; a += step)
			for (int v = 0; v < 2; v++) {
				int c = v ? 0xa5 : 0;
				unsigned char *d = area + PAD + a;
				for (size_t i = 0; i < n; i++) expect[PAD + a + i] = (unsigned char)c;
				/* Only the low byte of c counts. */
				if (memset(d, c | (v ? 0x7f00 : 0), n) != d || !window_ok(d, d + n))
					FAIL("memset n=%zu +%d c=%#x", n, a, c);
			}
		whole_area_ok("memset", n);
	}
}

static int sign(int x) { return (x > 0) - (x < 0); }

static void compares(void)
{
	unsigned char *l = area + PAD, *r = area + MAX + 2 * PAD;
	for (size_t n = 0; n <= MAX; n++)
		for (int a = 0; a < 64; a += step)
			for (int b = 0; b < 64; b += step) {
				fill(l + a, n);
				ref_move(r + b, l + a, n);
				if (memcmp(l + a, r + b, n) != 0 || bcmp(l + a, r + b, n) != 0)
					FAIL("memcmp equal n=%zu +%d +%d", n, a, b);
				if (!n) continue;
				size_t where[3] = {0, n / 2, n - 1};
				for (int w = 0; w < 3; w++) {
					size_t k = where[w];
					unsigned char keep = r[b + k];
					/* One side >= 0x80, the other < 0x80: a signed-char
					 * comparison gets the sign wrong. */
					l[a + k] = 0x80 | (unsigned char)next();
					r[b + k] = 0x7f & (unsigned char)next();
					if (sign(memcmp(l + a, r + b, n)) != 1 || sign(memcmp(r + b, l + a, n)) != -1
					    || bcmp(l + a, r + b, n) == 0)
						FAIL("memcmp n=%zu +%d +%d diff at %zu", n, a, b, k);
					/* A later difference the other way round: the
					 * first one still decides. */
					if (k + 1 < n) {
						unsigned char keep_l = l[a + n - 1], keep_r = r[b + n - 1];
						l[a + n - 1] = 0x00, r[b + n - 1] = 0xff;
						if (sign(memcmp(l + a, r + b, n)) != 1 || sign(memcmp(r + b, l + a, n)) != -1)
							FAIL("memcmp n=%zu +%d +%d first diff at %zu, later at %zu", n, a, b, k, n - 1);
						l[a + n - 1] = keep_l, r[b + n - 1] = keep_r;
					}
					l[a + k] = r[b + k] = keep;
				}
			}
}

static void searches(void)
{
	unsigned char *s = area + PAD;
	for (size_t n = 0; n <= MAX; n++)
		for (int a = 0; a < 64; a += step) {
			for (size_t i = 0; i < n + 64; i++) s[a + i] = 1 + (unsigned char)(next() % 255);
			s[a + n] = 0;
			if (strlen((char *)s + a) != n) FAIL("strlen %zu +%d", n, a);
			/* memchr: 0 is at n; the first 0x01..0xff byte value found by
			 * the reference, and one that is not there. */
			if (memchr(s + a, 0, n) != NULL) FAIL("memchr absent n=%zu +%d", n, a);
			if (memchr(s + a, 0, n + 1) != s + a + n) FAIL("memchr at end n=%zu +%d", n, a);
			if (memchr(s + a, 0, SIZE_MAX) != s + a + n) FAIL("memchr SIZE_MAX n=%zu +%d", n, a);
			if (n) {
				unsigned char c = s[a + n / 2];
				size_t first = 0;
				while (s[a + first] != c) first++;
				if (memchr(s + a, c | 0x100, n) != s + a + first) FAIL("memchr n=%zu +%d", n, a);
				if (memchr(s + a, c, first) != NULL) FAIL("memchr before n=%zu +%d", n, a);
				/* The needle in the 64 bytes before the start, which
				 * aligned loads also read, must not be found. */
				unsigned char before[64];
				memcpy(before, s + a - 64, 64);
				memset(s + a - 64, c, 64);
				if (memchr(s + a, c, n) != s + a + first || memchr(s + a, c, first) != NULL)
					FAIL("memchr with the needle before the start n=%zu +%d", n, a);
				memcpy(s + a - 64, before, 64);
			}
		}
}

/* The last byte a function may read is the last byte before a PROT_NONE
 * page: it must not fault. */
static void guard_pages(void)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map = mmap(0, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		FAIL("mmap");
		return;
	}
	unsigned char *end1 = map + page, *end2 = map + 3 * page;
	if (mprotect(end1, page, PROT_NONE) || mprotect(end2, page, PROT_NONE)) FAIL("mprotect");
	for (size_t len = 0; len < 1024; len++) {
		unsigned char *s = end1 - 1 - len;
		for (long i = 0; i < page; i++) map[i] = 'x';
		end1[-1] = 0;
		if (strlen((char *)s) != len) FAIL("strlen guard len=%zu", len);
		if (memchr(s, 'y', len + 1) != NULL) FAIL("memchr guard absent len=%zu", len);
		end1[-1] = 'y';
		if (memchr(s, 'y', len + 1) != end1 - 1) FAIL("memchr guard last len=%zu", len);
		unsigned char *t = end2 - 1 - len;
		ref_move(t, s, len + 1);
		if (memcmp(s, t, len + 1) != 0) FAIL("memcmp guard len=%zu", len);
	}
	munmap(map, 4 * page);
}

#if defined(__x86_64__)
extern unsigned __fastmusl_x86_features;
static long current_choice(void) { return __fastmusl_x86_features; }

static void print_choice(long f)
{
	printf("variant:%s%s%s%s%s\n", f & 0x80000000u ? "" : " (not initialised)",
	       f & 1 ? " erms" : "", f & 2 ? " fsrm" : "", f & 4 ? " avx2" : " sse2",
	       f & 8 ? " avx512" : "");
}
#elif defined(__aarch64__)
extern int __fastmusl_aarch64_variant;
static long current_choice(void) { return __fastmusl_aarch64_variant; }

static void print_choice(long v)
{
	printf("variant: %s\n", v == 2 ? "mops" : v == 1 ? "sve" : "advsimd");
}
#endif

#if defined(__x86_64__) || defined(__aarch64__)
static long seen_by_constructor = -1;

/* Constructors run after __init_libc: the choice is already made. */
__attribute__((constructor)) static void early(void)
{
	seen_by_constructor = current_choice();
}

/* Prints the choice; a constructor and a forked child must see the same. */
static void print_variant(void)
{
	long now = current_choice();
	print_choice(now);
	if (seen_by_constructor != now) FAIL("a constructor saw %#lx, main %#lx", seen_by_constructor, now);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) _exit(current_choice() == now ? 0 : 1);
	int status = -1;
	waitpid(child, &status, 0);
	if (status != 0) FAIL("the forked child saw another choice");
}
#else
static void print_variant(void) {}
#endif

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "quick")) step = 7;
	print_variant();
	copies();
	sets();
	compares();
	searches();
	guard_pages();
	big_copies();
	if (failures) {
		printf("%lu failures\n", failures);
		return 1;
	}
	puts("ok");
	return 0;
}
