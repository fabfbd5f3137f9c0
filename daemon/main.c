/*
 * daemon/main.c — alegated: options, start-up, the event loop, shutdown.
 *
 * One thread, one epoll loop: the NFQUEUE sockets, conntrack events, the
 * proc connector, the control socket and its clients, a timerfd on
 * CLOCK_BOOTTIME for every engine deadline, and a signalfd.  Nothing polls.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "alegate/callouts.h"
#include "daemon/agd.h"
#include "linux/fwscan.h"
#include "linux/proc.h"

/* Deadlines handled per loop turn: thousands of pended flows timing out
 * together must not keep the control socket waiting. */
#define AGD_DEADLINES_PER_TURN 256

static uint64_t engine_clock(void *arg)
{
	(void)arg;
	return agd_boottime_ns();
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: alegated [-f CONFIG] [-d] [-n] [--cleanup]\n"
		"  -f, --config FILE  configuration file (default %s)\n"
		"  -d, --debug        stay in the foreground, log to stderr\n"
		"  -n, --check        check the configuration and rules, print\n"
		"                     \"configuration OK\" or every error, and exit\n"
		"      --cleanup      remove firewall rules a crashed alegated left\n"
		"      --netns NAME   guard network namespace NAME (ip netns) while\n"
		"                     watching processes from the initial one\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this text\n"
		"See alegated(8).\n",
		AG_CONFIG_PATH);
}

static void print_err(void *arg, const char *msg)
{
	int *n = arg;

	fprintf(stderr, "%s\n", msg);
	if (n)
		(*n)++;
}

static void log_cfg_err(void *arg, const char *msg)
{
	int *n = arg;

	log_err("%s", msg);
	if (n)
		(*n)++;
}

static int syslog_level(enum ag_cfg_log_level l)
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
static void engine_config(const struct ag_config *c, ag_engine_config *ec)
{
	ag_engine_config_default(ec);
	ec->clock = engine_clock;
	ec->max_flows = c->max_flows;
	ec->max_pended = c->max_pending;
	ec->max_pended_per_process = c->max_pending_per_process;
	ec->pending_buffer = c->pending_buffer;
	ec->pending_timeout_ns = (uint64_t)c->pending_timeout_s * 1000000000ULL;
	ec->timeout_verdict = c->timeout_action == AG_CFG_TIMEOUT_ALLOW    ? AG_VERDICT_PERMIT
			      : c->timeout_action == AG_CFG_TIMEOUT_REJECT ? AG_VERDICT_REJECT
									   : AG_VERDICT_BLOCK;
	ec->event_ring_size = c->event_ring_size;
}

/* -n: every error of the configuration and of every rule file; 0 if none. */
static int check_only(const char *path)
{
	struct ag_config cfg;
	int errors = 0;
	int r = ag_config_load(path, &cfg, 0, print_err, &errors);

	if (r && !errors)
		errors++;
	if (r == 0) {
		struct stat st;

		if (stat(cfg.rules_dir, &st) == 0) {
			int bad = 0;

			ag_rules_load_dir(cfg.rules_dir, NULL, print_err, &bad);
			errors += bad;
		} else if (errno != ENOENT) {
			fprintf(stderr, "%s: cannot read rules directory: %s\n", cfg.rules_dir,
				strerror(errno));
			errors++;
		}
	}
	if (errors)
		return 1;
	printf("configuration OK\n");
	return 0;
}

static int cleanup_only(void)
{
	char err[AG_FW_ERR_MAX];

	if (ag_fw_cleanup(err, sizeof(err))) {
		fprintf(stderr, "alegated: cleanup failed: %s\n", err);
		return 1;
	}
	printf("alegated: no alegate firewall rule is left\n");
	return 0;
}

/* Move into /run/netns/NAME (or a path) for everything but the proc connector. */
static int enter_netns(const char *name)
{
	char path[4096];
	int fd;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || setns(fd, CLONE_NEWNET) == -1) {
		fprintf(stderr, "alegated: network namespace %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void on_signal(struct agd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			log_info("signal %d: stopping", (int)si.ssi_signo);
			d->stop = true;
			break;
		case SIGHUP:
			d->reload_requested = true;
			break;
		}
	}
}

static void reload(struct agd *d)
{
	struct ag_config cfg;
	int errors = 0;
	json_t *errs = json_array();

	d->reload_requested = false;
	/* bpf_notrack may have changed, and a failed load is worth a new try */
	d->notrack_failed = false;
	d->notrack_recheck = true;
	log_info("reloading %s", d->config_path);
	if (ag_config_load(d->config_path, &cfg, 0, log_cfg_err, &errors) == 0) {
		ag_engine_config ec;

		/* Queues, socket and firewall stay as started; the rest applies now. */
		if (cfg.queue_num != d->cfg.queue_num ||
		    strcmp(cfg.control_socket, d->cfg.control_socket) != 0 ||
		    cfg.fail_mode != d->cfg.fail_mode || cfg.inbound != d->cfg.inbound ||
		    cfg.intercept_loopback != d->cfg.intercept_loopback)
			log_warn("queue_num, control_socket, fail_mode, inbound and "
				 "intercept_loopback take effect at the next start");
		engine_config(&cfg, &ec);
		if (ag_engine_reconfigure(d->engine, &ec))
			log_err("reload: engine settings refused; keeping the old ones");
		agd_log_set_level(syslog_level(cfg.log_level));
		strcpy(cfg.control_socket, d->cfg.control_socket);
		cfg.queue_num = d->cfg.queue_num;
		cfg.fail_mode = d->cfg.fail_mode;
		cfg.inbound = d->cfg.inbound;
		cfg.intercept_loopback = d->cfg.intercept_loopback;
		d->cfg = cfg;
	} else {
		log_err("reload: %s has errors; keeping the running configuration",
			d->config_path);
	}
	agd_resolvers_refresh(d, true);
	agd_policy_reload(d, errs);
	json_decref(errs);
}

static int setup_loop(struct agd *d)
{
	sigset_t mask;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd == -1)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->sigfd == -1 || d->timerfd == -1)
		return -errno;
	if (agd_loop_add(d, d->sigfd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_SIGNAL) ||
	    agd_loop_add(d, d->timerfd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_TIMER))
		return -errno;
	return 0;
}

static void run(struct agd *d)
{
	struct epoll_event evs[64];

	while (!d->stop) {
		int n = epoll_wait(d->epfd, evs, 64, agd_fastpath_wake_ms(d));

		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		/* Everything but the queues first, then a bounded batch from each
		 * queue: under a flood of new flows the control socket, signals
		 * and deadlines still get their turn every iteration. */
		for (int i = 0; i < n; i++) {
			uintptr_t tag = (uintptr_t)evs[i].data.ptr;

			if (tag >= AGD_TAG_QUEUE0 && tag < AGD_TAG_QUEUE0 + AG_FW_NQUEUES) {
				continue;
			} else if (tag == AGD_TAG_CT) {
				agd_dataplane_ct_ready(d);
			} else if (tag == AGD_TAG_UDPCLOSE) {
				agd_dataplane_udp_closed_ready(d);
			} else if (tag == AGD_TAG_PROC) {
				agd_dataplane_proc_ready(d);
			} else if (tag == AGD_TAG_LISTEN) {
				agd_control_accept(d);
			} else if (tag == AGD_TAG_TIMER) {
				uint64_t ticks;

				if (read(d->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_debug("timerfd: %s", strerror(errno));
				d->timer_at = UINT64_MAX; /* it fired: nothing armed now */
				/* bounded: the rest fires on the next turn */
				ag_engine_advance_some(d->engine, AGD_DEADLINES_PER_TURN);
			} else if (tag == AGD_TAG_SIGNAL) {
				on_signal(d);
			} else if (tag == AGD_TAG_FWWATCH) {
				agd_notrack_watch_ready(d);
			} else if (tag >= AGD_TAG_LAST) {
				agd_control_client_ready(d, (struct agd_client *)evs[i].data.ptr,
							 evs[i].events);
			}
		}
		for (int i = 0; i < n; i++) {
			uintptr_t tag = (uintptr_t)evs[i].data.ptr;

			if (tag >= AGD_TAG_QUEUE0 && tag < AGD_TAG_QUEUE0 + AG_FW_NQUEUES)
				agd_dataplane_queue_ready(d, (int)(tag - AGD_TAG_QUEUE0));
		}
		if (d->reload_requested)
			reload(d);
		agd_policy_collect(d);
		agd_fastpath_sync(d);
		agd_dataplane_flush(d);
		/* after the verdicts: what attribution left to close */
		if (d->proc)
			ag_proc_release_taken(d->proc);
		agd_timer_update(d);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "netns", required_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agd daemon_state;
	struct agd *d = &daemon_state;
	const char *path = AG_CONFIG_PATH, *netns = NULL;
	bool check = false, cleanup = false;
	int c, errors = 0, ret = 1;

	while ((c = getopt_long(argc, argv, "f:dnVh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			path = optarg;
			break;
		case 'd':
			d->foreground = true;
			break;
		case 'n':
			check = true;
			break;
		case 'C':
			cleanup = true;
			break;
		case 'N':
			netns = optarg;
			break;
		case 'V':
			printf("alegated %s\n", AGD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "alegated: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_only(path);
	if (cleanup)
		return netns && enter_netns(netns) ? 1 : cleanup_only();
	if (geteuid() != 0) {
		fprintf(stderr, "alegated: must run as root (it binds NFQUEUE and changes "
				"the firewall)\n");
		return 1;
	}
	snprintf(d->config_path, sizeof(d->config_path), "%s", path);
	agd_log_init(d->foreground, LOG_INFO);
	if (ag_config_load(path, &d->cfg, 0, d->foreground ? print_err : log_cfg_err, &errors)) {
		log_err("cannot start: %s has errors (alegated -n -f %s lists them)", path, path);
		return 1;
	}
	agd_log_set_level(syslog_level(d->cfg.log_level));
	d->listen_fd = d->epfd = d->timerfd = d->sigfd = d->fwwatch_fd = -1;
	d->timer_at = UINT64_MAX;
	d->started_ns = agd_boottime_ns();

	ag_engine_config ec;
	ag_dataplane_ops ops;

	engine_config(&d->cfg, &ec);
	if (getrandom(ec.hash_seed, sizeof(ec.hash_seed), 0) != sizeof(ec.hash_seed))
		log_warn("getrandom: %s; flow hashing uses a fixed key", strerror(errno));
	agd_dataplane_ops(d, &ops);
	d->engine = ag_engine_new(&ec, &ops);
	if (!d->engine) {
		log_err("engine: %s", strerror(errno));
		return 1;
	}
	if (setup_loop(d)) {
		log_err("event loop: %s", strerror(errno));
		goto out;
	}
	if (agd_policy_init(d))
		goto out;
	/* before the rules: those on "resolvers" need them */
	agd_resolvers_refresh(d, true);
	agd_policy_load(d);
	/* The proc connector only speaks to the initial network namespace:
	 * open it here, then move into the namespace we guard. */
	if (netns && (agd_dataplane_open_proc(d) || enter_netns(netns)))
		goto out;
	/* The fast path first: loading it parses the kernel's BTF (megabytes,
	 * freed at once), and doing that before the tables are allocated keeps
	 * the daemon's peak memory down.  It also pins its UDP match before
	 * the firewall refers to it. */
	if (agd_fastpath_open(d))
		goto out;
	if (agd_dataplane_open(d))
		goto out;
	agd_fastpath_sync(d);
	if (agd_control_open(d))
		goto out;
	if (agd_dataplane_install(d))
		goto out;
	/* The fast path's TCP flows leave conntrack while no other firewall
	 * is here: told of every nftables change, decided before we run. */
	if (d->fp && d->fw_installed) {
		int w = ag_fw_watch_open();

		if (w >= 0 && agd_loop_add(d, w, EPOLLIN, (void *)(uintptr_t)AGD_TAG_FWWATCH) == 0)
			d->fwwatch_fd = w;
		else if (w >= 0)
			close(w);
		else
			log_warn("nftables watch: %s; the ruleset is looked at every 5 s",
				 strerror(-w));
	}
	agd_notrack_check(d);
	if (agd_privs_drop(d))
		goto out;
	/* Without -d: into the background once everything is in place, so
	 * whoever started us knows the firewall is up when we return. */
	if (!d->foreground && daemon(0, 0) == -1) {
		log_err("daemon: %s", strerror(errno));
		goto out;
	}
	log_info("alegated %s running: backend %s, fail_mode %s, %u rules, control %s",
		 AGD_VERSION, ag_fw_backend_name(d->fw_backend),
		 d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? "open" : "closed", d->nrules,
		 d->cfg.control_socket);
	run(d);
	ret = 0;
out:
	/* S10: every pended operation is completed as blocked, then the
	 * verdicts go out before the queues close. */
	if (d->engine)
		ag_engine_shutdown(d->engine);
	agd_dataplane_flush(d);
	agd_dataplane_close(d);
	agd_fastpath_close(d);
	agd_control_close(d);
	agd_policy_free(d);
	ag_engine_free(d->engine);
	if (d->epfd != -1)
		close(d->epfd);
	if (d->timerfd != -1)
		close(d->timerfd);
	if (d->sigfd != -1)
		close(d->sigfd);
	if (d->fwwatch_fd != -1)
		close(d->fwwatch_fd);
	log_info("stopped");
	return ret;
}
