/* fastmusl's libatomic.a (lib/fallback/, searched after everything else):
 * the out-of-line atomics of the GCC/LLVM ABI, for what a target cannot do
 * with its own instructions (16-byte atomics on most targets, objects of
 * odd sizes), and for crates whose build scripts ask for -latomic by name
 * (libmimalloc-sys does on arm).
 *
 * The sizes the target does natively (1, 2 and 4 bytes everywhere here,
 * 8 where the compiler says so) use the same instructions the compiler
 * inlines, so inline and library accesses to one object agree. Everything
 * else takes one of 64 spinlocks, chosen by address; the data is copied
 * under it. A spinlock never allocates and never calls into libc, so this
 * works before malloc is ready. Like GCC's libatomic, the locked sizes are
 * not async-signal-safe (C11 promises that only of lock-free atomics): a
 * handler that interrupts the holder of the same lock would spin forever.
 *
 * Where the compiler inlines a size with its own instructions (16-byte
 * atomics on aarch64, say), code built that way never calls these; an
 * object must not be shared between code that inlines a size and code that
 * calls the locked version of it, which no compiler here does.
 *
 * Written for fastmusl after the ABI that compiler-rt's atomic.c and GCC's
 * libatomic implement (function names and argument order are the ABI). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define LOCKS 64

static int locks[LOCKS];

static int *lock_for(const volatile void *p)
{
	uintptr_t a = (uintptr_t)p >> 4;
	return &locks[(a ^ (a >> 6) ^ (a >> 12)) % LOCKS];
}

static void lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			;
}

static void unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* The generic entry points share their names with compiler builtins, so
 * they are defined under other names and renamed in the object file. */
#pragma redefine_extname fastmusl_atomic_load __atomic_load
#pragma redefine_extname fastmusl_atomic_store __atomic_store
#pragma redefine_extname fastmusl_atomic_exchange __atomic_exchange
#pragma redefine_extname fastmusl_atomic_compare_exchange __atomic_compare_exchange
#pragma redefine_extname fastmusl_atomic_is_lock_free __atomic_is_lock_free

void fastmusl_atomic_load(size_t n, void *src, void *dst, int order)
{
	(void)order;
	int *l = lock_for(src);
	lock(l);
	memcpy(dst, src, n);
	unlock(l);
}

void fastmusl_atomic_store(size_t n, void *dst, void *src, int order)
{
	(void)order;
	int *l = lock_for(dst);
	lock(l);
	memcpy(dst, src, n);
	unlock(l);
}

void fastmusl_atomic_exchange(size_t n, void *p, void *val, void *old, int order)
{
	(void)order;
	int *l = lock_for(p);
	lock(l);
	memcpy(old, p, n);
	memcpy(p, val, n);
	unlock(l);
}

bool fastmusl_atomic_compare_exchange(size_t n, void *p, void *expected, void *desired,
				      int success, int failure)
{
	(void)success;
	(void)failure;
	int *l = lock_for(p);
	lock(l);
	bool same = memcmp(p, expected, n) == 0;
	if (same)
		memcpy(p, desired, n);
	else
		memcpy(expected, p, n);
	unlock(l);
	return same;
}

bool fastmusl_atomic_is_lock_free(size_t n, const volatile void *p)
{
	(void)p;
	switch (n) {
	case 1: return __atomic_always_lock_free(1, 0);
	case 2: return __atomic_always_lock_free(2, 0);
	case 4: return __atomic_always_lock_free(4, 0);
	case 8: return __atomic_always_lock_free(8, 0);
	}
	return false;
}

/* Sized entry points. NATIVE: the compiler's own instructions; LOCKED: the
 * address's spinlock around plain accesses. */
#define NATIVE_OPS(n, T)                                                         \
	T __atomic_load_##n(T *p, int o) { return __atomic_load_n(p, o); }         \
	void __atomic_store_##n(T *p, T v, int o) { __atomic_store_n(p, v, o); }   \
	T __atomic_exchange_##n(T *p, T v, int o) { return __atomic_exchange_n(p, v, o); } \
	bool __atomic_compare_exchange_##n(T *p, T *e, T d, int s, int f)          \
	{                                                                          \
		return __atomic_compare_exchange_n(p, e, d, 0, s, f);              \
	}                                                                          \
	T __atomic_fetch_add_##n(T *p, T v, int o) { return __atomic_fetch_add(p, v, o); } \
	T __atomic_fetch_sub_##n(T *p, T v, int o) { return __atomic_fetch_sub(p, v, o); } \
	T __atomic_fetch_and_##n(T *p, T v, int o) { return __atomic_fetch_and(p, v, o); } \
	T __atomic_fetch_or_##n(T *p, T v, int o) { return __atomic_fetch_or(p, v, o); }   \
	T __atomic_fetch_xor_##n(T *p, T v, int o) { return __atomic_fetch_xor(p, v, o); } \
	T __atomic_fetch_nand_##n(T *p, T v, int o) { return __atomic_fetch_nand(p, v, o); }

#define LOCKED_RMW(n, T, name, expr)                                             \
	T __atomic_fetch_##name##_##n(T *p, T v, int o)                            \
	{                                                                          \
		(void)o;                                                           \
		int *l = lock_for(p);                                              \
		lock(l);                                                           \
		T old = *p;                                                        \
		*p = (expr);                                                       \
		unlock(l);                                                         \
		return old;                                                        \
	}

#define LOCKED_OPS(n, T)                                                         \
	T __atomic_load_##n(T *p, int o)                                           \
	{                                                                          \
		T v;                                                               \
		fastmusl_atomic_load(n, p, &v, o);                                 \
		return v;                                                          \
	}                                                                          \
	void __atomic_store_##n(T *p, T v, int o) { fastmusl_atomic_store(n, p, &v, o); } \
	T __atomic_exchange_##n(T *p, T v, int o)                                  \
	{                                                                          \
		T old;                                                             \
		fastmusl_atomic_exchange(n, p, &v, &old, o);                       \
		return old;                                                        \
	}                                                                          \
	bool __atomic_compare_exchange_##n(T *p, T *e, T d, int s, int f)          \
	{                                                                          \
		return fastmusl_atomic_compare_exchange(n, p, e, &d, s, f);        \
	}                                                                          \
	LOCKED_RMW(n, T, add, old + v)                                             \
	LOCKED_RMW(n, T, sub, old - v)                                             \
	LOCKED_RMW(n, T, and, old & v)                                             \
	LOCKED_RMW(n, T, or, old | v)                                              \
	LOCKED_RMW(n, T, xor, old ^ v)                                             \
	LOCKED_RMW(n, T, nand, ~(old & v))

NATIVE_OPS(1, uint8_t)
NATIVE_OPS(2, uint16_t)
NATIVE_OPS(4, uint32_t)
#if __GCC_ATOMIC_LLONG_LOCK_FREE == 2
NATIVE_OPS(8, uint64_t)
#else
LOCKED_OPS(8, uint64_t)
#endif
#ifdef __SIZEOF_INT128__
LOCKED_OPS(16, __uint128_t)
#endif
