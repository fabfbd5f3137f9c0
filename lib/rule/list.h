/*
 * list.h — list files for the host_list and remote_list conditions.
 *
 * A host list is a hosts file ("0.0.0.0 ads.example.com", "127.0.0.1 a b c";
 * the usual localhost, broadcasthost and ip6-* names are left out) or one
 * name per line; "*.name" is the name.  An address list holds addresses
 * and CIDR prefixes, IPv4 and IPv6, one per line.  Both: '#' starts a
 * comment, blank lines, CRLF line ends and a UTF-8 byte order mark are
 * fine.  A bad line is reported ("FILE:LINE: reason" quoting the value)
 * and skipped; the rest still loads.
 */
#ifndef ALEGATE_RULE_LIST_H
#define ALEGATE_RULE_LIST_H

#include <stddef.h>

#include "base/nameset.h"

enum ag_list_kind {
	AG_LIST_HOSTS,		/* names: struct ag_nameset */
	AG_LIST_ADDRS,		/* addresses and prefixes: struct ag_prefixset */
};

/* Bad lines reported one by one; past this many, one line says how many more. */
#define AG_LIST_ERR_LINES	20
/* Bytes of a list file: a million names of 250 characters is less. */
#define AG_LIST_FILE_MAX	(512u << 20)

/* Called with each error line (NUL-terminated, valid during the call). */
typedef void (*ag_list_err_fn)(void *arg, const char *line);

/*
 * ag_list_parse_hosts / ag_list_parse_addrs - add the entries of the text
 * @buf (@len bytes, need not be NUL-terminated) to @set.
 * @file: the name in error lines.
 * @err: called for each of the first AG_LIST_ERR_LINES bad lines, then
 *	once with "FILE: N more bad lines"; may be NULL.
 * Return: how many lines were bad (0: all good), or -ENOMEM.
 */
int ag_list_parse_hosts(const char *file, const char *buf, size_t len, struct ag_nameset *set,
			ag_list_err_fn err, void *arg);
int ag_list_parse_addrs(const char *file, const char *buf, size_t len, struct ag_prefixset *set,
			ag_list_err_fn err, void *arg);

/*
 * ag_list_load - read and parse the list file @path of @kind.
 *
 * The file must be a regular file (a symbolic link to one is followed)
 * owned by root or the caller's effective uid and not writable by group
 * or others, like a rule file: whoever may write it decides what the rule
 * matches.  It must be readable by others: bad lines are quoted in the
 * log, and whoever may add a rule must not get a secret file (a password
 * file, a key) quoted there.  At most AG_LIST_FILE_MAX bytes.
 * @out: on success, a new struct ag_nameset (AG_LIST_HOSTS) or struct
 *	ag_prefixset (AG_LIST_ADDRS) the caller frees.
 * @bad: how many lines were bad (reported through @err).
 * @why, @whylen: why the file could not be read at all.
 * Return: 0, or -errno (-EPERM for ownership or mode, -EFBIG, -EINVAL not
 * a regular file) with @why set.
 */
int ag_list_load(const char *path, enum ag_list_kind kind, void **out, size_t *bad,
		 ag_list_err_fn err, void *arg, char *why, size_t whylen);

/* ag_list_free - free what ag_list_load() gave for @kind; NULL is fine. */
void ag_list_free(enum ag_list_kind kind, void *set);

#endif
