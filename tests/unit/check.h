/*
 * check.h — the smallest test harness that does the job.
 *
 * A test file includes this header once and defines tests with TEST(name).
 * Name each test after the SPEC statement or the bug it proves (S7_..., bug_...).
 * CHECK* macros end the current test on the first failure and report
 * file:line and the failed expression with its values.  The binary prints one
 * TAP-like line per test ("ok NAME" / "not ok NAME — why") and a final
 * "N passed, N failed" line, and exits 1 if anything failed.  tests/run adds
 * the lines of every binary and script together.
 *
 *   ./test_engine            run every test of the file
 *   ./test_engine S7 S8      run only tests whose name starts with S7 or S8
 */
#ifndef ALEGATE_TEST_CHECK_H
#define ALEGATE_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ck_test {
	const char *name;
	void (*fn)(void);
	struct ck_test *next;
};

static struct ck_test *ck_head, **ck_tail = &ck_head;
static int ck_cur_failed;

static inline void ck_register(struct ck_test *t)
{
	*ck_tail = t;
	ck_tail = &t->next;
}

static inline void ck_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static inline void ck_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ck_cur_failed++)
		return;
	fprintf(stdout, "#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

#define TEST(name)                                                           \
	static void test_##name(void);                                       \
	__attribute__((constructor)) static void ck_reg_##name(void)         \
	{                                                                    \
		static struct ck_test t = { #name, test_##name, NULL };      \
		ck_register(&t);                                             \
	}                                                                    \
	static void test_##name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			ck_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);     \
			return;                                              \
		}                                                            \
	} while (0)

#define CHECK_MSG(cond, ...)                                                 \
	do {                                                                 \
		if (!(cond)) {                                               \
			ck_fail(__FILE__, __LINE__, __VA_ARGS__);            \
			return;                                              \
		}                                                            \
	} while (0)

#define CHECK_INT(a, op, b)                                                  \
	do {                                                                 \
		long long ck_a = (long long)(a), ck_b = (long long)(b);      \
		if (!(ck_a op ck_b)) {                                       \
			ck_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", \
				#a, #op, #b, ck_a, ck_b);                     \
			return;                                              \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *ck_sa = (a), *ck_sb = (b);                       \
		if (!ck_sa || !ck_sb || strcmp(ck_sa, ck_sb) != 0) {         \
			ck_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", \
				#a, #b, ck_sa ? ck_sa : "(null)",            \
				ck_sb ? ck_sb : "(null)");                   \
			return;                                              \
		}                                                            \
	} while (0)

static int ck_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strncmp(name, argv[i], strlen(argv[i])) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct ck_test *t = ck_head; t; t = t->next) {
		if (!ck_selected(t->name, argc, argv))
			continue;
		ck_cur_failed = 0;
		t->fn();
		if (ck_cur_failed) {
			printf("not ok %s\n", t->name);
			failed++;
		} else {
			printf("ok %s\n", t->name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
