/*
 * rule_sha256.c — the executable checksum condition as text: 64 hex digits
 * in a rule file, 32 bytes in a rule.
 */
#include <errno.h>

#include "rule/rule.h"

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int ag_rule_sha256_parse(const char *s, size_t n, unsigned char *out)
{
	unsigned char d[AG_RULE_SHA256_LEN];

	if (n != 2 * AG_RULE_SHA256_LEN)
		return -EINVAL;
	for (size_t i = 0; i < AG_RULE_SHA256_LEN; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		d[i] = (unsigned char)(hi << 4 | lo);
	}
	for (size_t i = 0; i < AG_RULE_SHA256_LEN; i++)
		out[i] = d[i];
	return 0;
}

char *ag_rule_sha256_hex(const unsigned char *digest, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < AG_RULE_SHA256_LEN; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 0xf];
	}
	out[2 * AG_RULE_SHA256_LEN] = '\0';
	return out;
}
