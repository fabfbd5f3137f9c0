/*
 * config.h — alegated's configuration file (alegate.conf(5)).
 *
 * The file is a list of "key = value" lines.  Parsing never stops at the
 * first problem: every error of the file is handed to a callback as one
 * line "FILE:LINE: message" that quotes the bad key or value, so
 * `alegated -n` can show them all at once.  A configuration with errors is
 * never half applied: the caller's struct is only written on success.
 */
#ifndef ALEGATE_RULE_CONFIG_H
#define ALEGATE_RULE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define AG_CONFIG_PATH		"/etc/alegate/alegate.conf"

/* Bounds of the configuration itself, named here and nowhere else. */
#define AG_CONFIG_FILE_MAX	(1u << 20)	/* bytes of alegate.conf */
#define AG_CONFIG_STR_MAX	4096		/* paths, with the NUL (PATH_MAX) */
#define AG_CONFIG_GROUP_MAX	256		/* group name, with the NUL */
/* sizeof(((struct sockaddr_un *)0)->sun_path): a longer socket path cannot bind. */
#define AG_CONFIG_SOCKPATH_MAX	108

/*
 * Bytes that hold every error of any configuration written by hand, a
 * line each (see rule.h for the error buffer: the lines that do not fit
 * are counted in a last line "(N more errors)").
 */
#define AG_CONFIG_ERR_MAX	16384

enum ag_cfg_inbound {
	AG_CFG_INBOUND_ASK,
	AG_CFG_INBOUND_ALLOW,
	AG_CFG_INBOUND_DENY,
};

enum ag_cfg_timeout_action {
	AG_CFG_TIMEOUT_DENY,
	AG_CFG_TIMEOUT_ALLOW,
	AG_CFG_TIMEOUT_REJECT,
};

enum ag_cfg_fail_mode {
	AG_CFG_FAIL_CLOSED,
	AG_CFG_FAIL_OPEN,
};

enum ag_cfg_backend {
	AG_CFG_BACKEND_AUTO,
	AG_CFG_BACKEND_NFTABLES,
	AG_CFG_BACKEND_IPTABLES,
};

enum ag_cfg_log_level {
	AG_CFG_LOG_ERROR,
	AG_CFG_LOG_WARNING,
	AG_CFG_LOG_INFO,
	AG_CFG_LOG_DEBUG,
};

enum ag_cfg_bpf {
	AG_CFG_BPF_AUTO,
	AG_CFG_BPF_YES,
	AG_CFG_BPF_NO,
};

enum ag_cfg_event_log {
	AG_CFG_EVENT_LOG_NONE,
	AG_CFG_EVENT_LOG_JOURNAL,
	AG_CFG_EVENT_LOG_SYSLOG,
};

/*
 * Every setting, with the unit in the name of the field where there is one.
 * Plain value type: copy it with =, nothing to free.
 */
struct ag_config {
	unsigned queue_num;		/* connect = N, recv_accept = N+1, dns = N+2 */
	char control_socket[AG_CONFIG_SOCKPATH_MAX];
	char control_group[AG_CONFIG_GROUP_MAX];	/* "" = root only */
	unsigned control_mode;		/* permission bits of the socket */
	char rules_dir[AG_CONFIG_STR_MAX];
	char state_dir[AG_CONFIG_STR_MAX];
	bool intercept_loopback;
	enum ag_cfg_inbound inbound;
	unsigned pending_timeout_s;
	enum ag_cfg_timeout_action timeout_action;
	enum ag_cfg_fail_mode fail_mode;
	enum ag_cfg_backend firewall_backend;
	unsigned pending_buffer;	/* packets held per pended flow, 0 = flush */
	enum ag_cfg_log_level log_level;
	/* bounds of the daemon's tables */
	unsigned max_pending;
	unsigned max_pending_per_process;
	unsigned max_pending_per_user;	/* default max_pending / 4 */
	unsigned max_flows;
	unsigned dns_cache_size;
	unsigned event_ring_size;
	unsigned max_clients;
	unsigned max_message_size;	/* bytes of one control message */
	/* eBPF fast path */
	enum ag_cfg_bpf bpf;
	char bpf_cgroup[AG_CONFIG_STR_MAX];
	/* the fast path's TCP flows outside conntrack: auto = while no other
	 * firewall rule is in the namespace */
	enum ag_cfg_bpf bpf_notrack;
	/* where the DNS resolvers are listed ("nameserver" lines), read at
	 * start and whenever a file changes */
	char resolv_conf[AG_CONFIG_STR_MAX];
	char resolved_conf[AG_CONFIG_STR_MAX];
	/* connection history in state_dir/history.db: rows older than
	 * history_days go (0: kept until history_max_mb), and the oldest go
	 * while the file is larger than history_max_mb */
	unsigned history_days;
	unsigned history_max_mb;
	/* each decided connection as a structured log record */
	enum ag_cfg_event_log event_log;
	/* callout modules loaded at start: "PATH[:ARG] ...", "" = none */
	char callout_modules[AG_CONFIG_STR_MAX];
	/* deadline of the pends of loaded callouts, 0 = none (as WFP) */
	unsigned callout_timeout_s;
	/* executables larger than this are not hashed for sha256 rules (the
	 * data plane waits while one is read: about 1 ms per MB) */
	unsigned sha256_max_size;
};

/* ag_config_load() flags */
#define AG_CONFIG_MISSING_OK	0x1	/* a missing file means "all defaults" */

/*
 * ag_config_defaults - fill @cfg with the built-in default of every key
 * (the values alegate.conf(5) documents).  Cannot fail.
 */
void ag_config_defaults(struct ag_config *cfg);

/*
 * ag_config_parse_buffer - parse configuration text.
 * @name: file name used in error messages ("FILE:LINE: ...").
 * @buf, @len: the text; need not be NUL-terminated, may hold any bytes.
 * @cfg: written only on success, with the defaults for keys not present.
 * @err, @errlen: every error, a line each "FILE:LINE: message", in line
 *	order; @err may be NULL with @errlen 0.
 *
 * Return: 0, or -EINVAL after reporting every error of the text.
 */
int ag_config_parse_buffer(const char *name, const char *buf, size_t len,
			   struct ag_config *cfg, char *err, size_t errlen);

/*
 * ag_config_load - read and parse the configuration file @path.
 * @flags: AG_CONFIG_MISSING_OK makes a missing file (ENOENT) load the
 *	defaults and succeed; without it a missing file is an error.
 * @cfg, @err, @errlen: as for ag_config_parse_buffer().
 *
 * Return: 0; -EINVAL when the text has errors (all reported); -errno when
 * the file cannot be read (-EFBIG when it exceeds AG_CONFIG_FILE_MAX), also
 * reported in @err as "FILE: message".
 */
int ag_config_load(const char *path, struct ag_config *cfg, unsigned flags,
		   char *err, size_t errlen);

/*
 * ag_config_write - print @cfg as a configuration file, one "key = value"
 * line per key in the order of ag_config_key(), quoting where needed, so
 * that parsing the output gives @cfg back.
 *
 * Return: 0, or -EIO when writing to @f failed.
 */
int ag_config_write(const struct ag_config *cfg, FILE *f);

/*
 * ag_config_key - name of the @i-th configuration key (0-based), or NULL
 * past the last one.  Lets tests and tools check that every key is
 * documented.  The string is static.
 */
const char *ag_config_key(size_t i);

/*
 * ag_config_quote - write @s (@len bytes) into @dst as a double-quoted,
 * escaped string for an error message: control bytes, quotes and
 * backslashes are escaped, and input past 64 bytes is cut and marked
 * "...", so a hostile value can neither flood nor garble a terminal.
 * @dst always gets a NUL-terminated result (cut to @size).
 *
 * Return: @dst.
 */
char *ag_config_quote(char *dst, size_t size, const char *s, size_t len);

/*
 * ag__read_fd - internal, shared with the rule files: read all of @fd, but never
 * more than @max bytes.
 * @buf: set to a malloc'ed buffer (caller frees) holding *@len bytes plus
 *	a NUL that is not counted, so text parsers may rely on it.
 *
 * Return: 0; -EFBIG when the file holds more than @max bytes (nothing past
 * @max + 1 bytes is read); -ENOMEM or the read error otherwise.
 */
int ag__read_fd(int fd, size_t max, char **buf, size_t *len);
/* The same with @fd's fstat(2) already made (@st; NULL: none): one system
 * call fewer a file where the caller needed it anyway. */
struct stat;
int ag__read_fd_stat(int fd, const struct stat *st, size_t max, char **buf, size_t *len);

/*
 * ag__sanitize - internal, shared with the rule files: replace every control byte
 * of the NUL-terminated message @msg with '?', the last guard for the
 * parts of a message we do not quote ourselves (file names, jansson's
 * text), so no error line can move the cursor or recolour a terminal.
 */
void ag__sanitize(char *msg);

#endif
