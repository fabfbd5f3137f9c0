/*
 * daemon/lifecycle.c — start, stop and everything between that is not
 * the packet path: the lock that says a daemon is alive, the guard that
 * puts the firewall rules back when someone removes or changes them, the
 * readiness and watchdog messages to systemd, and the decision after a
 * stop whether the rules go or stay.
 *
 * With fail_mode closed the rules outlive the daemon on purpose: a flow
 * that meets them while no daemon reads the queues is dropped (no
 * bypass), so a crash or a restart lets nothing new through, and the next
 * daemon takes the queues and installs the rules again in one transaction.
 * Only a deliberate removal opens the door: `alegated --cleanup`, or the
 * unit's ExecStopPost after `systemctl stop` (not after a crash, not on a
 * restart).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/history.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "daemon/privs.h"
#include "daemon/resolvers.h"
#include "linux/fwscan.h"

/* How often the rules are looked at even without an nftables event (no
 * watch socket, a lost event). */
#define AGD_GUARD_RECHECK_NS	(5ULL * 1000000000ULL)

/* ---- configuration and reload -------------------------------------------------- */

static uint64_t engine_clock(void *arg)
{
	(void)arg;
	return ag_boot_ns();
}

int agd_syslog_level(enum ag_cfg_log_level l)
{
	switch (l) {
	case AG_CFG_LOG_ERROR:
		return LOG_ERR;
	case AG_CFG_LOG_WARNING:
		return LOG_WARNING;
	case AG_CFG_LOG_DEBUG:
		return LOG_DEBUG;
	default:
		return LOG_INFO;
	}
}

/* The engine's settings from the configuration. */
void agd_engine_config(const struct ag_config *c, ag_engine_config *ec)
{
	ag_engine_config_default(ec);
	ec->clock = engine_clock;
	ec->max_flows = c->max_flows;
	ec->max_pended = c->max_pending;
	ec->max_pended_per_process = c->max_pending_per_process;
	ec->max_pended_per_user = c->max_pending_per_user;
	ec->pending_buffer = c->pending_buffer;
	/* The engine's default deadline is the one of loaded callouts (none
	 * unless callout_timeout is set, as in WFP); `ask` gets pending_timeout
	 * of its own (agd_policy_init, reload). */
	ec->pending_timeout_ns = (uint64_t)c->callout_timeout_s * 1000000000ULL;
	ec->timeout_verdict = c->timeout_action == AG_CFG_TIMEOUT_ALLOW    ? AG_VERDICT_PERMIT
			      : c->timeout_action == AG_CFG_TIMEOUT_REJECT ? AG_VERDICT_REJECT
									   : AG_VERDICT_BLOCK;
	ec->event_ring_size = c->event_ring_size;
}

/*
 * Keys read only at start (queues, firewall, control socket, caches, the
 * fast path): a reload keeps their running value, logs them and names
 * them in not_applied.  alegate.conf(5) lists the same keys.
 */
static void keep_start_keys(const struct ag_config *run, struct ag_config *cfg,
			    json_t *not_applied)
{
#define KEEP(f, name)                                                        \
	do {                                                                 \
		if (memcmp(&cfg->f, &run->f, sizeof(cfg->f)) != 0) {         \
			log_warn("reload: %s changed; it takes effect at the next start", name); \
			json_array_append_new(not_applied, json_string(name)); \
			memcpy(&cfg->f, &run->f, sizeof(cfg->f));            \
		}                                                            \
	} while (0)
	KEEP(queue_num, "queue_num");
	KEEP(control_socket, "control_socket");
	KEEP(control_group, "control_group");
	KEEP(control_mode, "control_mode");
	KEEP(fail_mode, "fail_mode");
	KEEP(inbound, "inbound");
	KEEP(intercept_loopback, "intercept_loopback");
	KEEP(firewall_backend, "firewall_backend");
	KEEP(dns_cache_size, "dns_cache_size");
	KEEP(bpf, "bpf");
	KEEP(bpf_cgroup, "bpf_cgroup");
	KEEP(callout_modules, "callout_modules");
#undef KEEP
}

/*
 * SIGHUP and `alegatectl reload`: alegate.conf, then the rules.  A
 * configuration with errors is refused as a whole (the running one stays);
 * the rules are read either way.  errors gets every message; not_applied
 * the changed keys that wait for a restart.  Returns the rules loaded.
 */
int agd_reload(struct agd *d, json_t *errors, json_t *not_applied)
{
	static char err[AG_CONFIG_ERR_MAX];	/* the main thread's only */
	struct ag_config cfg;

	d->reload_requested = false;
	/* bpf_notrack may have changed, and a failed load is worth a new try */
	d->fastpath.notrack_failed = false;
	d->fastpath.notrack_recheck = true;
	log_info("reloading %s", d->config_path);
	if (ag_config_load(d->config_path, &cfg, 0, err, sizeof(err)) == 0) {
		ag_engine_config ec;

		keep_start_keys(&d->cfg, &cfg, not_applied);
		agd_engine_config(&cfg, &ec);
		if (ag_engine_reconfigure(d->engine, &ec)) {
			log_err("reload: engine settings refused; keeping the old ones");
			json_array_append_new(errors, json_string("engine settings refused; "
								  "keeping the old ones"));
		} else {
			agd_log_set_level(agd_syslog_level(cfg.log_level));
			d->cfg = cfg;
			agd_history_reconfigure(d);
			agd_policy_ask_timeout(d);
		}
	} else {
		agd_log_lines(LOG_ERR, NULL, err, errors);
		log_err("reload: %s has errors; keeping the running configuration",
			d->config_path);
	}
	/* the resolvers may have changed with the files or their keys */
	agd_resolvers_refresh(d, true);
	return agd_policy_reload(d, errors);
}

/* ---- the lock file ------------------------------------------------------------ */

void agd_pidfile_path(const struct ag_config *cfg, char *buf, size_t len)
{
	const char *s = cfg->control_socket;
	size_t n = strlen(s);

	/* next to the control socket, one per instance: "X.sock" -> "X.pid" */
	if (n > 5 && strcmp(s + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(buf, len, "%.*s.pid", (int)n, s);
}

/* Make the directory of path (one level, as the control socket does). */
static void mkdir_parent_of(const char *path)
{
	char dir[sizeof(((struct agd *)0)->life.pid_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			log_debug("%s: %s", dir, strerror(errno));
	}
}

/* The pid a lock file names, or 0. */
static long pidfile_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int agd_pidfile_lock(struct agd *d)
{
	char buf[32];
	int fd, n;

	agd_pidfile_path(&d->cfg, d->life.pid_path, sizeof(d->life.pid_path));
	mkdir_parent_of(d->life.pid_path);
	fd = open(d->life.pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		log_err("lock file %s: %s", d->life.pid_path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		if (e == EWOULDBLOCK)
			log_err("another alegated is running (pid %ld, lock file %s)",
				pidfile_pid(fd), d->life.pid_path);
		else
			log_err("lock file %s: %s", d->life.pid_path, strerror(e));
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("lock file %s: %s", d->life.pid_path, strerror(errno));
	d->life.pid_fd = fd;
	return 0;
}

void agd_pidfile_release(struct agd *d)
{
	if (d->life.pid_fd == -1)
		return;
	unlink(d->life.pid_path);
	close(d->life.pid_fd);
	d->life.pid_fd = -1;
}

/* Is one of queues base..base+1 (connect, recv_accept) bound in this netns? */
static bool queues_bound(unsigned base, unsigned *which)
{
	FILE *f = fopen("/proc/self/net/netfilter/nfnetlink_queue", "re");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned q;

		if (sscanf(line, "%u", &q) == 1 && q >= base && q <= base + 1) {
			*which = q;
			found = true;
		}
	}
	fclose(f);
	return found;
}

int agd_alive(const struct ag_config *cfg, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[sizeof(((struct agd *)0)->life.pid_path)];
	unsigned q;
	int fd;

	agd_pidfile_path(cfg, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd != -1) {
		if (flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK) {
			snprintf(why, len, "alegated (pid %ld) holds %s", pidfile_pid(fd), path);
			close(fd);
			return 1;
		}
		close(fd);
	}
	if (strlen(cfg->control_socket) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, cfg->control_socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			snprintf(why, len, "alegated answers on %s", cfg->control_socket);
			close(fd);
			return 1;
		}
		if (fd != -1)
			close(fd);
	}
	if (queues_bound(cfg->queue_num, &q)) {
		snprintf(why, len, "NFQUEUE %u is bound in this network namespace", q);
		return 1;
	}
	return 0;
}

/* ---- the guard of the rules ------------------------------------------------------ */

void agd_guard_start(struct agd *d)
{
	int r;

	d->guard.on = false;
	if (!d->dp.fw_installed)
		return;
	r = ag_fw_fingerprint(d->dp.fw_backend, &d->guard.sum, &d->guard.nrules);
	d->guard.checked_ns = ag_boot_ns();
	if (r) {
		log_warn("firewall guard: cannot read the ruleset (%s); rules removed by "
			 "others are not put back", strerror(-r));
		return;
	}
	if (d->guard.nrules == 0) {
		/* legacy xtables: its rules are not in the nftables dump */
		log_warn("firewall guard: alegate's rules are not visible over nftables "
			 "netlink (legacy iptables?); rules removed by others are not put back");
		return;
	}
	d->guard.on = true;
}

void agd_guard_check(struct agd *d)
{
	char err[AG_FW_ERR_MAX];
	uint64_t now = ag_boot_ns(), sum;
	unsigned n;
	int r;

	if (!d->guard.on || d->stop)
		return;
	if (!d->guard.recheck && now - d->guard.checked_ns < AGD_GUARD_RECHECK_NS)
		return;
	d->guard.recheck = false;
	d->guard.checked_ns = now;
	r = ag_fw_fingerprint(d->dp.fw_backend, &sum, &n);
	if (r) {
		/* -EAGAIN: still changing; the next event or tick looks again */
		log_debug("firewall guard: %s", strerror(-r));
		return;
	}
	if (sum == d->guard.sum && n == d->guard.nrules)
		return;
	log_warn("firewall rules of alegate were %s by another program (%u rules now, %u "
		 "installed); installing them again",
		 n == 0 ? "removed" : "changed", n, d->guard.nrules);
	r = agd_privs_fw_install(d, err, sizeof(err));
	if (r) {
		log_err("firewall guard: installing the rules again failed: %s", err);
		return;
	}
	d->guard.restores++;
	/* The digest stays the one taken at start: the same rules give it
	 * again, and a read now could catch the other program half way (a
	 * rule put before our jump right after the install), taking that as
	 * the norm.  The install's own nftables events bring the next look. */
	log_info("firewall rules of alegate restored (%u rules)", d->guard.nrules);
	/* the notrack table's decision may depend on what changed */
	d->fastpath.notrack_recheck = true;
}

int agd_guard_wake_ms(const struct agd *d)
{
	uint64_t now, due;

	if (!d->guard.on)
		return -1;
	now = ag_boot_ns();
	due = d->guard.checked_ns + AGD_GUARD_RECHECK_NS;
	return due <= now ? 0 : (int)((due - now) / 1000000 + 1);
}

/* ---- timed rules across a restart --------------------------------------------- */

#define AGD_TIMED_FILE "timed-rules.json"

static void boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

void agd_timed_load(struct agd *d)
{
	char path[sizeof(d->cfg.state_dir) + 32], boot[64];
	json_t *top, *rules, *o;
	json_error_t je;
	size_t i;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, AGD_TIMED_FILE);
	top = json_load_file(path, 0, &je);
	if (!top)
		return; /* none saved */
	boot_id(boot, sizeof(boot));
	rules = json_object_get(top, "rules");
	if (!boot[0] || !json_is_string(json_object_get(top, "boot_id")) ||
	    strcmp(json_string_value(json_object_get(top, "boot_id")), boot) != 0 ||
	    !json_is_array(rules)) {
		json_decref(top);
		return; /* another boot: CLOCK_BOOTTIME started again */
	}
	d->policy.bulk = true;
	json_array_foreach(rules, i, o) {
		json_t *exp = json_object_get(o, "expires_at_ns");
		uint64_t now = ag_boot_ns(), at;
		struct ag_rule rule;
		char rule_err[AG_RULE_ERR_MAX];

		if (!json_is_integer(exp) || json_integer_value(exp) <= 0)
			continue;
		at = (uint64_t)json_integer_value(exp);
		if (at <= now + 1000000)
			continue; /* ran out while no daemon ran */
		json_object_set_new(o, "expires_in_ms", json_integer((json_int_t)((at - now) / 1000000)));
		json_object_del(o, "expires_at_ns");
		if (ag_rule_from_json(o, AG_RULE_JSON_CONTROL, &rule, rule_err, sizeof(rule_err))) {
			agd_log_lines(LOG_WARNING, AGD_TIMED_FILE, rule_err, NULL);
			continue;
		}
		rule.expires_ns = at;
		if (agd_rule_add(d, &rule, rule_err, sizeof(rule_err)))
			log_warn("%s: rule %s: %s", AGD_TIMED_FILE, rule.id,
				 rule_err[0] ? rule_err : "refused");
		else
			n++;
		ag_rule_free(&rule);
	}
	d->policy.bulk = false;
	json_decref(top);
	d->life.timed_dirty = false;
	if (n)
		log_info("%d timed rule%s kept from before the restart", n, n == 1 ? "" : "s");
}

void agd_timed_save(struct agd *d)
{
	char path[sizeof(d->cfg.state_dir) + 32], tmp[sizeof(path) + 8], boot[64];
	json_t *top = json_object(), *rules = json_array();

	d->life.timed_dirty = false;
	boot_id(boot, sizeof(boot));
	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		const struct agd_rule *ar = d->policy.rules[i];
		struct ag_rule_view view;
		const struct ag_rule *r;
		json_t *o;

		if (agd_rule_packed(ar)->lifetime != AG_RULE_TIMED || ar->expired)
			continue;
		r = agd_rule_view(ar, &view);
		o = ag_rule_to_json(r, AG_RULE_JSON_CONTROL);
		if (!o)
			continue;
		json_object_del(o, "expires_in_ms");
		json_object_set_new(o, "expires_at_ns", json_integer((json_int_t)r->expires_ns));
		json_array_append_new(rules, o);
	}
	json_object_set_new(top, "boot_id", json_string(boot));
	json_object_set_new(top, "rules", rules);
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, AGD_TIMED_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (mkdir(d->cfg.state_dir, 0700) == -1 && errno != EEXIST)
		log_debug("%s: %s", d->cfg.state_dir, strerror(errno));
	/* written whole, then renamed: a crash leaves the old list or the new */
	if (json_dump_file(top, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
		log_debug("%zu timed rules saved in %s", json_array_size(rules), path);
	else
		log_warn("cannot save the timed rules in %s: %s (they end with the daemon)", path,
			 strerror(errno));
	json_decref(top);
}

/* ---- systemd ---------------------------------------------------------------------- */

void agd_notify_ready(struct agd *d)
{
	uint64_t usec = 0;

	/* nothing without $NOTIFY_SOCKET: a start by hand or by another manager */
	if (sd_notifyf(0, "READY=1\nSTATUS=fail_mode %s, %u rules, control %s",
		       d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? "open" : "closed", d->policy.nrules,
		       d->cfg.control_socket) > 0)
		log_debug("told systemd we are ready");
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		d->life.watchdog_ns = usec * 1000 / 2;
		d->life.watchdog_at = ag_boot_ns();
	}
}

void agd_notify_stopping(struct agd *d)
{
	(void)d;
	sd_notify(0, "STOPPING=1");
}

void agd_watchdog_ping(struct agd *d)
{
	uint64_t now;

	if (!d->life.watchdog_ns)
		return;
	now = ag_boot_ns();
	if (now - d->life.watchdog_at < d->life.watchdog_ns)
		return;
	d->life.watchdog_at = now;
	sd_notify(0, "WATCHDOG=1");
}

int agd_watchdog_wake_ms(const struct agd *d)
{
	uint64_t now, due;

	if (!d->life.watchdog_ns)
		return -1;
	now = ag_boot_ns();
	due = d->life.watchdog_at + d->life.watchdog_ns;
	return due <= now ? 0 : (int)((due - now) / 1000000 + 1);
}

/* ---- after a stop --------------------------------------------------------------- */

/* Does systemd hold a restart job for unit?  1 yes, 0 no, -1 cannot tell. */
static int restart_queued(const char *unit)
{
	char out[1024];
	size_t len = 0;
	int pfd[2], status;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		execlp("systemctl", "systemctl", "list-jobs", "--no-legend", "--no-pager", unit,
		       (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], out + len, sizeof(out) - 1 - len);

		if (n > 0 && (len += (size_t)n) < sizeof(out) - 1)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	close(pfd[0]);
	out[len] = '\0';
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	/* "JOB UNIT TYPE STATE": during the stop half of a restart the job
	 * is still of type restart */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char u[256], type[64];

		if (sscanf(line, "%*s %255s %63s", u, type) == 2 && strcmp(u, unit) == 0 &&
		    strstr(type, "restart"))
			return 1;
	}
	return 0;
}

int agd_after_stop(const struct ag_config *cfg, const char *unit, bool *remove, char *why,
		   size_t len)
{
	const char *result = getenv("SERVICE_RESULT");
	const char *code = getenv("EXIT_CODE"), *status = getenv("EXIT_STATUS");

	*remove = false;
	if (cfg->fail_mode == AG_CFG_FAIL_OPEN) {
		*remove = true;
		snprintf(why, len, "fail_mode is open");
		return 0;
	}
	if (!result) {
		snprintf(why, len, "no $SERVICE_RESULT: --after-stop is for the service "
			 "manager (ExecStopPost); alegated --cleanup removes the rules by hand");
		return -EINVAL;
	}
	if (strcmp(result, "success") != 0) {
		snprintf(why, len, "alegated ended by failure (SERVICE_RESULT=%s EXIT_CODE=%s "
			 "EXIT_STATUS=%s): the rules stay and new connections wait until "
			 "it runs again (fail_mode closed)", result, code ? code : "-",
			 status ? status : "-");
		return 0;
	}
	int r = unit && unit[0] ? restart_queued(unit) : 0;

	if (r == 1) {
		snprintf(why, len, "%s is restarting: the rules stay for the next alegated "
			 "(fail_mode closed)", unit);
		return 0;
	}
	*remove = true;
	snprintf(why, len, "alegated was stopped deliberately%s",
		 r < 0 ? " (systemctl list-jobs did not say whether a restart follows)" : "");
	return 0;
}
