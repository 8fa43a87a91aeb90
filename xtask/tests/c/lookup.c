/* getaddrinfo(NAME) as a program sees it, for the resolver tests: one line
 * "ok ADDR ADDR ..." (numeric, sorted, each once) or "error NAME message",
 * then "first N", the time the first call took, and "ms N", the shortest
 * of count calls. NAME [inet|inet6|any] [count]: count lookups of the
 * same name, the result of the last one printed. A resolver that learns
 * (glibc's single-request after a lost answer) shows in the difference,
 * and so does an emulated program's first call, which pays for
 * translating the resolver's code. The same source is built with glibc,
 * stock musl and fastmusl. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static const char *error_name(int e)
{
	switch (e) {
	case EAI_NONAME: return "EAI_NONAME";
	case EAI_AGAIN: return "EAI_AGAIN";
	case EAI_FAIL: return "EAI_FAIL";
	case EAI_FAMILY: return "EAI_FAMILY";
	case EAI_MEMORY: return "EAI_MEMORY";
	case EAI_SYSTEM: return "EAI_SYSTEM";
#ifdef EAI_NODATA
	case EAI_NODATA: return "EAI_NODATA";
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
#endif
	default: return "EAI_OTHER";
	}
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: lookup NAME [inet|inet6|any] [count]\n");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	if (argc > 2 && !strcmp(argv[2], "inet")) hints.ai_family = AF_INET;
	if (argc > 2 && !strcmp(argv[2], "inet6")) hints.ai_family = AF_INET6;
	int count = argc > 3 ? atoi(argv[3]) : 1;
	struct addrinfo *res = 0;
	int r = 0;
	long took = -1, first = -1;
	for (int i = 0; i < count; i++) {
		if (res) freeaddrinfo(res);
		res = 0;
		long t0 = now_ms();
		r = getaddrinfo(argv[1], 0, &hints, &res);
		long t = now_ms() - t0;
		if (took < 0 || t < took) took = t;
		if (first < 0) first = t;
	}
	if (r) {
		printf("error %s %s\n", error_name(r), gai_strerror(r));
	} else {
		size_t n = 0;
		for (struct addrinfo *p = res; p; p = p->ai_next) n++;
		char **texts = calloc(n, sizeof *texts);
		size_t k = 0;
		for (struct addrinfo *p = res; p; p = p->ai_next) {
			char buf[INET6_ADDRSTRLEN];
			const void *a = p->ai_family == AF_INET
				? (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
			inet_ntop(p->ai_family, a, buf, sizeof buf);
			texts[k++] = strdup(buf);
		}
		qsort(texts, n, sizeof *texts, by_text);
		printf("ok");
		for (size_t i = 0; i < n; i++)
			if (!i || strcmp(texts[i], texts[i - 1])) printf(" %s", texts[i]);
		printf("\n");
		freeaddrinfo(res);
	}
	printf("first %ld\nms %ld\n", first, took);
	return 0;
}
