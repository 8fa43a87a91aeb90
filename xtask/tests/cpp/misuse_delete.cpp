/* The one kind of heap misuse in c/misuse_suite.c that needs C++: `delete`
 * of an array made by `new[]`. For a type with a destructor the compiler
 * puts the element count in front of the array (the Itanium C++ ABI's
 * array cookie: 8 bytes on every target fastmusl has) and `new[]` returns
 * the address after it, so `delete` hands free a pointer 8 bytes into the
 * block malloc returned.
 *
 * The global operators are this file's own, over malloc and free, as a
 * C++ runtime's are (libc++'s and libstdc++'s call malloc and free too):
 * the suite then compiles with every libc's C headers and links as C,
 * with no C++ runtime to build for each (compile it with -fno-exceptions).
 * What reaches the allocator is the compiler's doing alone. */
#include <stddef.h>
#include <stdlib.h>

void *operator new(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *operator new[](size_t n)
{
	return operator new(n);
}

void operator delete(void *p) noexcept
{
	free(p);
}

void operator delete[](void *p) noexcept
{
	free(p);
}

void operator delete(void *p, size_t) noexcept
{
	free(p);
}

void operator delete[](void *p, size_t) noexcept
{
	free(p);
}

namespace {

/* A destructor makes new[] keep the count. */
struct Counted {
	char bytes[16];
	~Counted()
	{
		bytes[0] = 0;
	}
};

Counted *volatile opaque;

} // namespace

extern "C" void delete_of_new_array(size_t n)
{
	opaque = new Counted[n / sizeof(Counted) + 1];
	delete opaque;
}
