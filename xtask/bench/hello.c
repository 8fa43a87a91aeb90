/* A static C hello world, for the resident memory a C program costs before
 * it does anything: one string from malloc (so the allocator is set up, as
 * in nearly every real program), the greeting, then its RSS (`rss_kib=`,
 * from /proc/self/smaps_rollup) and peak (`peak_rss_kib=`, VmHWM) on
 * stderr. Built by `cargo xtask bench` against glibc, stock musl and each
 * fastmusl flavor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first number after `name` in `path`, or 0. */
static long field(const char *path, const char *name)
{
	char line[256];
	long value = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, name, strlen(name)) == 0) {
			value = strtol(line + strlen(name), 0, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

int main(void)
{
	char *greeting = strdup("hello, world");
	if (!greeting)
		return 1;
	puts(greeting);
	free(greeting);
	fprintf(stderr, "rss_kib=%ld peak_rss_kib=%ld\n",
		field("/proc/self/smaps_rollup", "Rss:"),
		field("/proc/self/status", "VmHWM:"));
	return 0;
}
