/* Linked into mimalloc's test-api (c_programs.rs). Its case
 * "malloc-free-invalid-low" frees an address mimalloc never handed out and
 * expects the program to go on (upstream issue 1087: it used to fault).
 * fastmusl stops such a free by design (patches/mimalloc/0006: mimalloc's
 * message, then abort, patch 0002). This handler, registered before
 * test-api's main, lets it go on past that report and checks at exit
 * that it was the only one: exactly one invalid-pointer report (EINVAL)
 * where the case runs (64-bit targets), none elsewhere, and no other
 * report of misuse. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include "mimalloc.h"

static int invalid_pointer_reports, other_reports;

static void count_report(int err, void *arg)
{
	(void)arg;
	if (err == EINVAL)
		invalid_pointer_reports++;
	else if (err == EFAULT || err == EAGAIN) /* heap misuse; ENOMEM and
						   * EOVERFLOW are test-api's
						   * own allocation failures */
		other_reports++;
}

__attribute__((constructor)) static void register_handler(void)
{
	mi_register_error(count_report, 0);
}

__attribute__((destructor)) static void check_reports(void)
{
	const int expected = sizeof(void *) > 4 ? 1 : 0;
	if (invalid_pointer_reports != expected || other_reports != 0) {
		fprintf(stderr, "fastmusl: expected %d invalid-pointer report(s), got %d, and %d other misuse report(s)\n",
			expected, invalid_pointer_reports, other_reports);
		fflush(stderr);
		_exit(3);
	}
	fprintf(stderr, "fastmusl: invalid-pointer reports as expected: %d\n", invalid_pointer_reports);
}
