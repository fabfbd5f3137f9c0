/*
 * daemon/lists.h — the list files rules name (host_list, remote_list).
 *
 * A file named by several rules is read once and shared.  The engine's
 * filters hold a pointer to the list, not to its set, so a new version of
 * the file swaps in at once: the daemon re-reads a list when its file is
 * written or renamed over (inotify on the file's directory) and on reload,
 * then gives the rules that name it new filters (live flows are decided
 * again, the fast path is compiled again), as a rule change does.
 */
#ifndef ALEGATE_DAEMON_LISTS_H
#define ALEGATE_DAEMON_LISTS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "alegate/engine.h"

struct agd;
struct agd_list;
struct agd_lists;
struct ag_fp_prefix;
struct ag_rule;

/* An address list larger than this stays out of the kernel's maps: its
 * rules are barriers there and NFQUEUE decides. */
#define AGD_LIST_FP_MAX	131072

/*
 * agd_lists_open - the list table and its inotify descriptor (in the loop).
 * @read_again is called on the loop each time a list in force was read
 * anew (policy.c gives the rules that name it new filters).
 * Return: 0 or -ENOMEM (inotify missing only costs the watching, logged).
 */
typedef void (*agd_list_read_fn)(struct agd *d, const struct agd_list *l);
int agd_lists_open(struct agd *d, agd_list_read_fn read_again);
void agd_lists_close(struct agd *d);

/*
 * agd_lists_get - take the lists @r names into @out[0] (its host_list) and
 * @out[1] (its remote_list), NULL where it names none (reading those not
 * yet read).  @strict: a file that cannot be read refuses the rule, with
 * why in @err (a rule given over the control socket); otherwise the rule
 * keeps an empty list until the file can be read (a rule file at start or
 * reload), which is logged.
 * Return: 0, -ENOMEM, or with @strict the -errno of ag_list_load().
 */
int agd_lists_get(struct agd *d, const struct ag_rule *r, struct agd_list *out[2], bool strict,
		  char *err, size_t errlen);

/*
 * agd_lists_prefetch - before a rule given over the control socket is
 * added: read the list files it names that no rule named yet, on the
 * reader thread, then call @done(@d, @arg) on the loop (its list found
 * read, or unreadable: agd_rule_add() then refuses it as before).  @drop
 * frees @arg if the daemon stops first.
 * Return: 1 when @done will be called; 0 when there is nothing to read
 * (add at once); -ENOMEM.
 */
typedef void (*agd_lists_done_fn)(struct agd *d, void *arg);
int agd_lists_prefetch(struct agd *d, const struct ag_rule *rule, agd_lists_done_fn done,
		       void (*drop)(void *arg), void *arg);

/* agd_lists_put - let go of @l's lists and clear them (a list nobody names is freed). */
void agd_lists_put(struct agd *d, struct agd_list *l[2]);

/*
 * agd_list_conditions - the engine conditions of the lists @l (as
 * agd_lists_get() gave them) into @c (room for 2).  Return: how many.
 */
size_t agd_list_conditions(struct agd_list *const l[2], ag_condition *c);

/* agd_lists_ready - the inotify descriptor is readable: re-read what changed
 * (on the reader thread; the rules keep the set they have meanwhile). */
void agd_lists_ready(struct agd *d);

/* agd_lists_read_done - the reader's eventfd is readable: swap in the sets
 * it read and refresh the rules that name them; a file that could not be
 * read leaves the last good set in force. */
void agd_lists_read_done(struct agd *d);

/* agd_lists_status_json - the lists, for `status`: path, kind, entries,
 * read_ms (wall clock of the last good read, 0 never), reading, error. */
json_t *agd_lists_status_json(struct agd *d);

/* agd_lists_reload_begin - a reload starts: every list is held, so the
 * rules read again find it with its set.  agd_lists_reload_end - let go;
 * the lists still named are read again on the reader thread, and their
 * rules refreshed when each is read. */
void agd_lists_reload_begin(struct agd *d);
void agd_lists_reload_end(struct agd *d);

/*
 * agd_list_fp_prefixes - the fast path's ag_fp_env.set: the prefixes of
 * an address list condition, malloc'ed.  -ENOENT for a condition not ours,
 * -E2BIG past AGD_LIST_FP_MAX, -ENOMEM.
 */
int agd_list_fp_prefixes(void *arg, const ag_condition *cond, struct ag_fp_prefix **out, size_t *n);

/* Is @name (or a domain above it) on the host list @hosts?  False for NULL. */
bool agd_list_names(const struct agd_list *hosts, const char *name);
/* Is @cond a host list condition of ours, and is @name on that list? */
bool agd_list_cond_is_hosts(const ag_condition *cond);
bool agd_list_cond_names(const ag_condition *cond, const char *name);

/*
 * agd_lists_check - for `alegated -n`: read every list the rule files of
 * @rules_dir name; print each bad line and unreadable file to stderr.
 * Return: how many files had errors.
 */
int agd_lists_check(const char *rules_dir);

#endif
