/* musl's fixes after 1.2.6 that the sysroot carries (sysroots/sources.toml,
 * [[musl.upstream_fixes]]), each checked where stock musl 1.2.6 goes wrong:
 *
 *   gb18030   CVE-2026-6042 (67219f01): four-byte GB18030 sequences decode
 *             to the right code points; 1.2.6 maps 90 30 81 30 to U+34C4C.
 *   strptime  0572555d: %Z before any tzset() reads tzname[] that is still
 *             null; 1.2.6 crashes.
 *   regex     40acb04b: a BRE back reference to an unfinished group is
 *             refused by regcomp; with 1.2.6 regexec then loops forever.
 *   fmemopen  bb4b4102: a write-only stream filled to its size keeps the last
 *             byte; 1.2.6 overwrites it with a null.
 *             9086784b: writing past the end is an error (ENOSPC).
 *
 * Prints "ok <name>" per check, exits non-zero at the first failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <iconv.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fail(const char *what, const char *detail)
{
	printf("FAIL %s: %s\n", what, detail);
	exit(1);
}

static void gb18030(void)
{
	static const struct {
		unsigned char in[4];
		const char *utf8;
		const char *name;
	} cases[] = {
		{ { 0x81, 0x30, 0x81, 0x30 }, "\xc2\x80", "U+0080" },
		{ { 0x84, 0x31, 0xa4, 0x39 }, "\xef\xbf\xbf", "U+FFFF" },
		{ { 0x90, 0x30, 0x81, 0x30 }, "\xf0\x90\x80\x80", "U+10000" },
		{ { 0xe3, 0x32, 0x9a, 0x35 }, "\xf4\x8f\xbf\xbf", "U+10FFFF" },
	};
	iconv_t cd = iconv_open("UTF-8", "GB18030");
	if (cd == (iconv_t)-1) fail("gb18030", "iconv_open failed");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char in[4], out[8] = { 0 };
		memcpy(in, cases[i].in, 4);
		char *ip = in, *op = out;
		size_t il = 4, ol = sizeof out - 1;
		if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) fail("gb18030", cases[i].name);
		if (strcmp(out, cases[i].utf8)) {
			char msg[96];
			snprintf(msg, sizeof msg, "%s decoded as %02x %02x %02x %02x", cases[i].name,
				 (unsigned char)out[0], (unsigned char)out[1],
				 (unsigned char)out[2], (unsigned char)out[3]);
			fail("gb18030", msg);
		}
	}
	iconv_close(cd);
	puts("ok gb18030");
}

static void strptime_zone_before_tzset(void)
{
	struct tm tm = { 0 };
	const char *end = strptime("UTC rest", "%Z", &tm);
	if (!end || strcmp(end, " rest")) fail("strptime", "%Z did not consume the zone name");
	puts("ok strptime");
}

static void regex_unfinished_backref(void)
{
	regex_t re;
	int rc = regcomp(&re, "\\(^a*\\1\\)*", 0);
	if (rc == 0) {
		regfree(&re);
		fail("regex", "regcomp accepted \\1 inside group 1");
	}
	if (rc != REG_ESUBREG) fail("regex", "regcomp refused it, but not with REG_ESUBREG");
	puts("ok regex");
}

static void fmemopen_write_mode(void)
{
	char buf[4] = { 'x', 'x', 'x', 'x' };
	FILE *f = fmemopen(buf, sizeof buf, "w");
	if (!f) fail("fmemopen", "fmemopen failed");
	setvbuf(f, 0, _IONBF, 0);
	if (fwrite("abcd", 1, 4, f) != 4) fail("fmemopen", "a write that fits failed");
	if (memcmp(buf, "abcd", 4)) fail("fmemopen", "the final byte was overwritten");
	errno = 0;
	fwrite("e", 1, 1, f);
	if (!ferror(f) || errno != ENOSPC) fail("fmemopen", "writing past the end was not ENOSPC");
	fclose(f);
	puts("ok fmemopen");
}

int main(void)
{
	gb18030();
	strptime_zone_before_tzset();
	regex_unfinished_backref();
	fmemopen_write_mode();
	return 0;
}
