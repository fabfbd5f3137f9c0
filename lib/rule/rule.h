/*
 * rule.h — rules: checks, JSON, the store of one JSON file per persistent rule.
 *
 * A rule is what a person writes ("firefox may reach *.example.org on 443");
 * the daemon turns each enabled rule into engine filters.  Persistent
 * ("always") rules live in <rules_dir>/<id>.json, one rule per file, so a
 * broken file only ever costs one rule; session, timed and until-restart
 * rules use the same struct but only live in memory.
 *
 * Files are read and never touched unless the daemon saves or deletes that
 * exact rule; saving is atomic (temporary file, fsync, rename, fsync of the
 * directory), so a crash leaves the old rule or the new one, never half.
 */
#ifndef ALEGATE_RULE_RULE_H
#define ALEGATE_RULE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Bounds of a rule, named here and nowhere else (lengths without the NUL). */
#define AG_RULE_ID_MAX		32
#define AG_RULE_NEW_ID_LEN	8		/* ag_rule_new_id(): hex chars */
#define AG_RULE_NAME_MAX	255
#define AG_RULE_APP_MAX		4095		/* PATH_MAX - 1 */
#define AG_RULE_USER_MAX	32		/* login names, as useradd allows */
#define AG_RULE_HOST_MAX	253		/* a DNS name in text form */
#define AG_RULE_CALLOUT_MAX	64		/* a callout's registered name */
#define AG_RULE_WEIGHT_MIN	(-1000)
#define AG_RULE_WEIGHT_MAX	1000
#define AG_RULE_FILE_MAX	(1u << 20)	/* bytes of one rule file */
#define AG_RULE_SOURCE_MAX	4096		/* path of the file, with the NUL */
/* expires_in_ms of a timed rule: ten years is "always" with extra steps. */
#define AG_RULE_EXPIRES_MS_MAX	(3650ull * 24 * 3600 * 1000)

/*
 * Errors: a function that reports what a person reads takes the caller's
 * buffer (char *err, size_t errlen) last; err may be NULL with errlen 0.
 * The parsers report every error they find, one per line ("FILE:LINE:
 * message" quoting the bad value, '\n' between lines, none after the
 * last); lines that do not fit are left out and the last line then says
 * "(N more errors)".  AG_RULE_ERR_MAX bytes hold every error of any rule
 * file written by hand.
 */
#define AG_RULE_ERR_MAX		8192

/*
 * ag_rule_err_join - the error lines @lines as one line, "a; b", in @dst
 * (@size bytes, cut to fit), for a reply or a message of one line.
 * Return: @dst.
 */
char *ag_rule_err_join(char *dst, size_t size, const char *lines);

enum ag_rule_action {
	AG_RULE_ALLOW,
	AG_RULE_DENY,
	AG_RULE_REJECT,		/* deny, and make the application fail at once */
	AG_RULE_ASK,		/* pend the flow and ask a prompt client */
	AG_RULE_CALLOUT,	/* hand the flow to the loaded callout `callout` */
};

enum ag_rule_lifetime {
	AG_RULE_ALWAYS,		/* saved to disk; the only kind that is */
	AG_RULE_UNTIL_RESTART,
	AG_RULE_UNTIL_QUIT,	/* until control connection `session` closes */
	AG_RULE_TIMED,		/* until `expires_ns` on CLOCK_BOOTTIME */
};

enum ag_rule_direction {
	AG_RULE_OUT,
	AG_RULE_IN,
};

/*
 * Which conditions (and optional fields) a rule has: struct ag_rule.has.
 * A condition's bit is set exactly when it has at least one value (the
 * ag_rule_add_*() functions keep it so).
 */
#define AG_RULE_HAS_APP		0x001
#define AG_RULE_HAS_USER	0x002	/* user[] holds what was given */
#define AG_RULE_HAS_UID		0x004	/* every user[] value has its uid */
#define AG_RULE_HAS_REMOTE	0x008
#define AG_RULE_HAS_HOST	0x010
#define AG_RULE_HAS_PORT	0x020
#define AG_RULE_HAS_PROTO	0x040
#define AG_RULE_HAS_DIRECTION	0x080
#define AG_RULE_HAS_CREATED	0x100
/* remote is "resolvers": the DNS resolvers configured on this host (their
 * addresses change with resolv.conf; the daemon gives the rule new
 * filters then).  It is the remote condition's only value. */
#define AG_RULE_HAS_RESOLVERS	0x200
#define AG_RULE_REMOTE_RESOLVERS "resolvers"
/* sha256[] holds the SHA-256 the program's executable file must have */
#define AG_RULE_HAS_SHA256	0x1000
#define AG_RULE_SHA256_LEN	32		/* bytes; 64 hex digits in JSON */
/* host_list / remote_list: the remote host name (or a domain above it) is
 * in the host list file, the remote address in the address list file */
#define AG_RULE_HAS_HOST_LIST	0x400
#define AG_RULE_HAS_REMOTE_LIST	0x800

/*
 * Values of one condition: at most AG_RULE_VALUES_MAX.  The values of one
 * condition are ORed ("port 80 or 443"), the conditions ANDed.
 */
#define AG_RULE_VALUES_MAX	64

/* app: an exact path, or an fnmatch(3) pattern when glob is set */
struct ag_rule_app {
	char *path;
	bool glob;			/* path holds one of * ? [ */
};

/* user: a name as given (name set), or a uid (name NULL) */
struct ag_rule_user {
	char *name;			/* NULL: given as a number */
	uint32_t uid;			/* when known: numeric, or resolved */
	bool uid_known;
};

/* remote: an address within plen bits */
struct ag_rule_remote {
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t plen;			/* prefix length, 32/128 = one address */
	unsigned char addr[16];		/* network byte order, host bits 0 */
};

/* host: a DNS name; with wildcard ("*.example.org") any name ending in
 * ".example.org", but not "example.org" itself */
struct ag_rule_host {
	char *name;			/* lower case, no trailing dot, "*." kept */
	bool wildcard;
};

/* port: a range, lo == hi for one port */
struct ag_rule_port {
	uint16_t lo, hi;
};

/*
 * One rule.  It owns its strings and value arrays: copy it with
 * ag_rule_copy(), release it with ag_rule_free() (never with =, which
 * would share them).  Conditions on different fields are ANDed, the
 * values of one condition ORed; a rule with no condition matches every
 * flow.
 *
 * Matching semantics the engine must give the fields (alegate.conf(5)):
 * - app: exact path, or an fnmatch(3) pattern (ag_rule_app.glob).
 * - remote: the peer address, within the value's plen bits; or, with
 *   AG_RULE_HAS_RESOLVERS, any of the configured DNS resolvers.
 * - host: the peer's DNS name (see struct ag_rule_host).
 * - host_list: the peer's DNS name or a domain above it is in the file;
 *   remote_list: the peer address is within a prefix of the file.  Not
 *   combined with host, or with remote, in one rule.
 * - port: the SERVICE port: the remote port of an outbound flow, the local
 *   port of an inbound flow (what a person means by "port 22 inbound").
 * - sha256: the SHA-256 of the file the process runs (not of the file now
 *   at its path); unknown (not computed, too large) never matches.
 *
 * The string pointers name, callout, source, host_list and remote_list
 * are NULL when empty; read them through ag_rule_str() where "" is wanted.
 */
struct ag_rule {
	char id[AG_RULE_ID_MAX + 1];
	bool enabled;
	/* the values of each condition, n_* of them (0: no condition) */
	uint8_t n_app, n_user, n_remote, n_host, n_port, n_proto;
	enum ag_rule_action action;
	int weight;			/* AG_RULE_WEIGHT_MIN..MAX, default 0 */
	unsigned has;			/* AG_RULE_HAS_* */
	char *name;			/* free text, NULL for none */
	char *callout;			/* AG_RULE_CALLOUT: its name */

	struct ag_rule_app *app;
	struct ag_rule_user *user;
	struct ag_rule_remote *remote;
	struct ag_rule_host *host;
	struct ag_rule_port *port;
	uint8_t *proto;			/* IP protocol numbers */
	enum ag_rule_direction direction;
	/* In memory only: never written to a rule file. */
	enum ag_rule_lifetime lifetime;
	int64_t created;		/* Unix seconds, when AG_RULE_HAS_CREATED */

	/* In memory only (with lifetime above): never written to a rule file. */
	uint64_t expires_ns;		/* AG_RULE_TIMED: CLOCK_BOOTTIME deadline */
	uint64_t session;		/* AG_RULE_UNTIL_QUIT: the owner's id */
	char *source;			/* file it was loaded from, NULL for none */

	unsigned char sha256[AG_RULE_SHA256_LEN];	/* when AG_RULE_HAS_SHA256 */

	/* Saved, like the conditions above: absolute paths of list files
	 * (rule/list.h), read by the daemon. */
	char *host_list;		/* AG_RULE_HAS_HOST_LIST */
	char *remote_list;		/* AG_RULE_HAS_REMOTE_LIST */

	/* In memory only: a view of a packed rule (ag_rule_unpack()), which
	 * owns none of the strings and arrays above. */
	bool view;
};

/* @s, or "" when NULL: for name, callout and source. */
static inline const char *ag_rule_str(const char *s)
{
	return s ? s : "";
}

/* ag_rule_from_json() / ag_rule_to_json() flags */
/*
 * The control-protocol form: "lifetime" and "expires_in_ms" are allowed
 * (and written), and "id" may be absent for a rule the daemon will name.
 */
#define AG_RULE_JSON_CONTROL	0x1

/* ag_rule_save() flags */
#define AG_RULE_SAVE_NEW	0x1	/* fail with -EEXIST instead of replacing */

/*
 * ag_rule_init - an empty rule: no id, action deny, enabled, no condition,
 * weight 0, lifetime always.  Cannot fail; allocates nothing.
 */
void ag_rule_init(struct ag_rule *rule);

/*
 * ag_rule_free - release what @rule owns and leave it as ag_rule_init()
 * does.  Safe on an init'ed rule, and twice.
 */
void ag_rule_free(struct ag_rule *rule);

/*
 * ag_rule_copy - @dst becomes a deep copy of @src (@dst's old content is
 * not freed: pass an init'ed or freed rule).
 * Return: 0, or -ENOMEM with @dst init'ed.
 */
int ag_rule_copy(struct ag_rule *dst, const struct ag_rule *src);

/*
 * The packed form of a rule, for one kept for long (the daemon's 100,000):
 * one run of bytes that holds a small header, the id, and then only what
 * the rule has (its values, and name, callout, source, the list paths,
 * sha256, created, expires_ns and session when set), with no pointers in
 * it.  Make one with ag_rule_pack() in ag_rule_packed_size() bytes at an
 * address aligned to 8 (malloc's, or a flexible array member aligned so);
 * free it with that memory.  It may be moved and copied byte for byte.
 *
 * Read the header's fields directly; of them only enabled may be written
 * (in place).  Everything else is read through ag_rule_unpack(), which
 * costs no allocation: a view of the rule in a struct ag_rule_view.
 */
struct ag_rule_packed {
	int32_t weight;
	uint32_t has;			/* AG_RULE_HAS_* */
	uint16_t opt;			/* which seldom-used parts follow (rule_packed.c) */
	uint8_t action, direction, lifetime;	/* the enums' values */
	bool enabled;
	uint8_t n_app, n_user, n_remote, n_host, n_port, n_proto;
	uint8_t id_len;
	char id[];			/* id_len characters and a NUL; then the rest */
};

/*
 * A packed rule as a struct ag_rule: view.rule, whose arrays are those of
 * the view and whose strings are the packed rule's (valid while it is,
 * and unchanged).  A view owns nothing: never free it, never change it
 * (its field view is true: ag_rule_free() only clears it, a setter gives it
 * allocations of its own first).  About 5 kB: one per function,
 * used again for each rule of a loop.
 */
struct ag_rule_view {
	struct ag_rule rule;
	struct ag_rule_app app[AG_RULE_VALUES_MAX];
	struct ag_rule_user user[AG_RULE_VALUES_MAX];
	struct ag_rule_remote remote[AG_RULE_VALUES_MAX];
	struct ag_rule_host host[AG_RULE_VALUES_MAX];
	struct ag_rule_port port[AG_RULE_VALUES_MAX];
};

/*
 * ag_rule_packed_size - the bytes ag_rule_pack() writes for @rule; 0 when
 * it cannot be packed (a condition with more than AG_RULE_VALUES_MAX
 * values, which no setter or parser makes).
 */
size_t ag_rule_packed_size(const struct ag_rule *rule);

/* ag_rule_pack - @rule packed into @buf (ag_rule_packed_size() bytes, not 0,
 * aligned to 8).  Return: @buf as the packed rule. */
struct ag_rule_packed *ag_rule_pack(const struct ag_rule *rule, void *buf);

/* ag_rule_unpack - a view of @p in @view.  Return: &view->rule. */
const struct ag_rule *ag_rule_unpack(const struct ag_rule_packed *p, struct ag_rule_view *view);

/* The in-memory fields of a packed rule, without a view (0 when unset). */
uint64_t ag_rule_packed_expires_ns(const struct ag_rule_packed *p);
uint64_t ag_rule_packed_session(const struct ag_rule_packed *p);

/*
 * Setters for code that builds a rule (the parsers check values first;
 * these only store them).  A string is copied; "" clears name, callout
 * and source.  Return: 0, -ENOMEM, or -E2BIG when the condition already
 * has AG_RULE_VALUES_MAX values.  ag_rule_add_*() append one value and set
 * the condition's AG_RULE_HAS_* bit (add_user with a uid also keeps
 * AG_RULE_HAS_UID right).
 */
int ag_rule_set_name(struct ag_rule *rule, const char *name);
int ag_rule_set_callout(struct ag_rule *rule, const char *callout);
int ag_rule_set_source(struct ag_rule *rule, const char *source);
/* host_list / remote_list: the path, and the AG_RULE_HAS_*_LIST bit with it */
int ag_rule_set_host_list(struct ag_rule *rule, const char *path);
int ag_rule_set_remote_list(struct ag_rule *rule, const char *path);
int ag_rule_add_app(struct ag_rule *rule, const char *path);	/* glob from * ? [ */
int ag_rule_add_user_name(struct ag_rule *rule, const char *name);
int ag_rule_add_uid(struct ag_rule *rule, uint32_t uid);
int ag_rule_add_remote(struct ag_rule *rule, int family, const void *addr, unsigned plen);
int ag_rule_add_host(struct ag_rule *rule, const char *name);	/* "*.x" is a wildcard */
int ag_rule_add_port(struct ag_rule *rule, uint16_t lo, uint16_t hi);
int ag_rule_add_proto(struct ag_rule *rule, uint8_t proto);

/*
 * ag_rule_parse - parse the text of one rule file.
 * @file: path used in messages; when its last component ends in ".json",
 *	the rule's id must equal that name without ".json".
 * @buf, @len: the text (need not be NUL-terminated).
 * @out: written only on success (then it owns its values: ag_rule_free());
 *	lifetime AG_RULE_ALWAYS, source = @file (NULL when @file is NULL;
 *	messages then say "rule").
 * @err, @errlen: every error as a line "FILE:LINE: message" quoting the
 *	bad value; syntax errors carry jansson's line, others the line of the
 *	key (found in the text: right for ordinary formatting).
 *
 * Every error of the rule is reported, not only the first.
 * Return: 0, -EINVAL (errors reported) or -ENOMEM.
 */
int ag_rule_parse(const char *file, const char *buf, size_t len, struct ag_rule *out,
		  char *err, size_t errlen);

/*
 * ag_rule_from_json - the same checks on a decoded JSON object, for the
 * control protocol.  Messages carry no file or line: "unknown action \"x\"".
 * A condition is one value, an array of 1..AG_RULE_VALUES_MAX values, or
 * (user, remote, host, port, proto) a string of values separated by commas.
 * @out is written only on success and then owns its values: ag_rule_free().
 * @flags: AG_RULE_JSON_CONTROL to accept "lifetime" (default "always") and
 *	"expires_in_ms" (required for "timed", converted to expires_ns from
 *	the current CLOCK_BOOTTIME), and a missing "id" (left "").
 *	An "until-quit" rule gets session 0: the caller sets its owner.
 * @err, @errlen: every error, a line each.
 * @obj is borrowed.  Return: 0, -EINVAL (errors reported) or -ENOMEM.
 */
int ag_rule_from_json(const json_t *obj, unsigned flags, struct ag_rule *out,
		      char *err, size_t errlen);

/*
 * ag_rule_to_json - a rule as a JSON object with the keys in file order
 * (id, name, action, enabled, app, sha256, user, remote, host, port, proto,
 * direction, weight, created), absent conditions left out; "port" is
 * always a string ("443", "1000-2000"), "user" a number when numeric.  With
 * AG_RULE_JSON_CONTROL, "lifetime" and, for timed rules, "expires_in_ms"
 * (time left, 0 once past) are added.
 *
 * A condition with one value is written as that value; with several, as
 * an array of them in order ("port": ["80", "443"]).
 *
 * Return: a new reference (caller json_decref()s it), or NULL with errno
 * ENOMEM; EILSEQ when a string field is not valid UTF-8 (JSON cannot carry
 * it: an executable path with such bytes needs a glob); EINVAL when a
 * remote value's family is neither AF_INET nor AF_INET6, or a condition
 * has more than AG_RULE_VALUES_MAX values.
 */
json_t *ag_rule_to_json(const struct ag_rule *rule, unsigned flags);

/*
 * ag_rule_equal - true when @a and @b would be saved as the same file
 * content (the in-memory fields are ignored), e.g. to skip reauthorizing
 * flows on a reload that changed nothing.
 */
bool ag_rule_equal(const struct ag_rule *a, const struct ag_rule *b);

/*
 * ag_rule_id_valid - true when @id is 1..AG_RULE_ID_MAX characters of
 * [A-Za-z0-9_-], so it is safe as a file name.
 */
bool ag_rule_id_valid(const char *id);

/*
 * Called by ag_rules_load_dir() for each rule file in name order: with
 * @rule for a good one (@err NULL), or with @rule NULL and @err the lines
 * saying what is wrong with a bad one.  Both are only valid during the
 * call (ag_rule_copy() the rule to keep it; it is freed after the call).  A negative return stops loading and is returned by
 * ag_rules_load_dir().
 */
typedef int (*ag_rule_fn)(void *arg, const struct ag_rule *rule, const char *err);

/*
 * ag_rules_load_dir - load every rule file of @dir.
 *
 * Reads every "*.json" entry in name order; other names are ignored
 * (editor backups "x.json~", ".x.json.swp", hidden files, our own
 * ".x.json.tmp").  A bad file — unreadable, a symbolic link (never
 * followed), not a regular file, owned by someone other than root (or the
 * caller's effective uid), writable by group or others, larger than
 * AG_RULE_FILE_MAX (refused without being read), invalid, or holding an id
 * that another file already has — is handed to @rule_cb with its errors
 * (at most AG_RULE_ERR_MAX bytes of them) and skipped; the good rules are
 * still delivered.  The text of a file that is not JSON is never quoted.
 * No file is ever modified.
 *
 * @rule_cb may be NULL to only check the files (`alegated -n`): the
 *	errors of every bad file then go to @err, a line each.
 * @err, @errlen: why the directory itself could not be read.
 *
 * Return: 0 when every file loaded; -EINVAL when some were skipped (each
 * handed to @rule_cb, or reported in @err); a negative value returned by @rule_cb; -EPERM (in
 * @err, no file read) when @dir itself is owned by another user or
 * writable by group or others; or -errno (in @err) when @dir cannot be
 * read or memory ran out.
 */
int ag_rules_load_dir(const char *dir, ag_rule_fn rule_cb, void *arg, char *err, size_t errlen);

/*
 * ag_rule_save - write @rule to @dir/<id>.json atomically: write
 * @dir/.<id>.json.tmp (mode 0644), fsync it, rename it over <id>.json,
 * fsync @dir.  The text is 2-space indented JSON with the keys in a fixed
 * order, so diffs stay readable.  A rule that would not load back is
 * refused before anything is written.
 * @flags: AG_RULE_SAVE_NEW to fail with -EEXIST if <id>.json exists.
 *
 * Return: 0; -EINVAL for an invalid rule or a lifetime other than always;
 * -EEXIST; or the -errno of the failed step, after which the temporary
 * file is gone and any previous <id>.json is intact.
 */
int ag_rule_save(const char *dir, const struct ag_rule *rule, unsigned flags);

/*
 * ag_rule_delete - remove @dir/<id>.json and fsync @dir.
 * Return: 0, -EINVAL for an invalid id, -ENOENT, or another -errno.
 */
int ag_rule_delete(const char *dir, const char *id);

/*
 * ag_rule_new_id - write a fresh id of AG_RULE_NEW_ID_LEN lowercase hex
 * characters from getrandom(2), NUL-terminated, into @buf (at least
 * AG_RULE_NEW_ID_LEN + 1 bytes).  The caller checks it is not in use.
 * Return: 0 or -errno of getrandom.
 */
int ag_rule_new_id(char *buf);

/*
 * ag_rule_sha256_parse - @n characters of @s as a SHA-256: exactly 64 hex
 * digits, either case, nothing else.  Writes the 32 bytes to @out.
 * Return: 0, or -EINVAL (then @out is untouched).
 */
int ag_rule_sha256_parse(const char *s, size_t n, unsigned char *out);

/*
 * ag_rule_sha256_hex - @digest (32 bytes) as 64 lower-case hex digits and
 * a NUL in @out (at least 65 bytes).  Return: @out.
 */
char *ag_rule_sha256_hex(const unsigned char *digest, char *out);

/* Names of the enum values as they appear in JSON: "allow", "until-quit"... */
const char *ag_rule_action_name(enum ag_rule_action action);
const char *ag_rule_lifetime_name(enum ag_rule_lifetime lifetime);

#endif
