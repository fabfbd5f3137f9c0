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
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alegate/callouts.h"
#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/dataplane.h"
#include "daemon/fastpath_sync.h"
#include "daemon/fpevents.h"
#include "daemon/history.h"
#include "daemon/lifecycle.h"
#include "daemon/lists.h"
#include "daemon/log.h"
#include "daemon/modules.h"
#include "daemon/policy.h"
#include "daemon/privs.h"
#include "daemon/resolvers.h"
#include "linux/exeid.h"
#include "linux/fwscan.h"
#include "linux/proc.h"

/* Deadlines handled per loop turn: thousands of pended flows timing out
 * together must not keep the control socket waiting. */
#define AGD_DEADLINES_PER_TURN 256

static void usage(FILE *f)
{
	fprintf(f,
		"usage: alegated [-f CONFIG] [-d] [-n] [--netns NAME] [-V] [-h]\n"
		"       alegated [-f CONFIG] [--netns NAME] --cleanup [--force]\n"
		"       alegated [-f CONFIG] [--netns NAME] --after-stop[=UNIT]\n"
		"  -f, --config FILE  configuration file (default %s)\n"
		"  -d, --debug        stay in the foreground, log to stderr\n"
		"  -n, --check        check the configuration and rules, print\n"
		"                     \"configuration OK\" or every error, and exit\n"
		"      --cleanup      remove alegate's firewall rules (refused while\n"
		"                     alegated runs, unless --force)\n"
		"      --after-stop   for systemd's ExecStopPost: remove the rules after a\n"
		"                     deliberate stop, keep them after a crash or for a\n"
		"                     restart of UNIT (fail_mode closed)\n"
		"      --netns NAME   guard network namespace NAME (ip netns) while\n"
		"                     watching processes from the initial one\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this text\n"
		"See alegated(8).\n",
		AG_CONFIG_PATH);
}

/* The error buffer of a configuration or rules check: a line per error. */
static char check_err[AG_CONFIG_ERR_MAX];

/* -n: every error of the configuration and of every rule file; 0 if none. */
static int check_only(const char *path)
{
	struct ag_config cfg;
	int errors = 0;
	int r = ag_config_load(path, &cfg, 0, check_err, sizeof(check_err));

	if (r) {
		if (check_err[0])
			fprintf(stderr, "%s\n", check_err);
		errors++;
	}
	if (r == 0) {
		struct stat st;

		if (stat(cfg.rules_dir, &st) == 0) {
			if (ag_rules_load_dir(cfg.rules_dir, NULL, NULL, check_err,
					      sizeof(check_err)) < 0) {
				if (check_err[0])
					fprintf(stderr, "%s\n", check_err);
				errors++;
			}
		} else if (errno != ENOENT) {
			fprintf(stderr, "%s: cannot read rules directory: %s\n", cfg.rules_dir,
				strerror(errno));
			errors++;
		}
		errors += agd_modules_check(path, &cfg);
		if (stat(cfg.rules_dir, &st) == 0)
			errors += agd_lists_check(cfg.rules_dir);
	}
	if (errors)
		return 1;
	printf("configuration OK\n");
	return 0;
}

/* The configuration for --cleanup and --after-stop: the default file may
 * be missing (then the defaults), a file named with -f may not. */
static int load_quiet(const char *path, struct ag_config *cfg)
{
	unsigned flags = strcmp(path, AG_CONFIG_PATH) == 0 ? AG_CONFIG_MISSING_OK : 0;

	if (ag_config_load(path, cfg, flags, check_err, sizeof(check_err))) {
		fprintf(stderr, "%s\n", check_err);
		fprintf(stderr, "alegated: %s has errors; the control socket, lock file and "
				"queues of the daemon are not known\n", path);
		return -1;
	}
	return 0;
}

static int remove_rules(void)
{
	char err[AG_FW_ERR_MAX];

	if (ag_fw_cleanup(err, sizeof(err))) {
		fprintf(stderr, "alegated: cleanup failed: %s\n", err);
		return 1;
	}
	printf("alegated: no alegate firewall rule is left\n");
	return 0;
}

/*
 * --cleanup: the rules of a daemon that is gone.  A running daemon would
 * put them back at once, and until then new flows would pass unasked:
 * refused, unless --force (a daemon that hangs).
 */
static int cleanup_only(const char *path, bool force)
{
	struct ag_config cfg;
	char why[512];

	if (load_quiet(path, &cfg))
		return 1;
	if (agd_alive(&cfg, why, sizeof(why)) == 1) {
		if (!force) {
			fprintf(stderr, "alegated: refusing to remove the firewall rules: %s.\n"
					"Stop it first (its rules stay with fail_mode closed), or "
					"use --force.\n", why);
			return 1;
		}
		fprintf(stderr, "alegated: --force: removing the rules although %s\n", why);
	}
	return remove_rules();
}

/* --after-stop[=UNIT]: what systemd runs once the daemon ended. */
static int after_stop(const char *path, const char *unit)
{
	struct ag_config cfg;
	char why[512];
	bool remove;

	if (load_quiet(path, &cfg))
		return 1;
	if (agd_alive(&cfg, why, sizeof(why)) == 1) {
		fprintf(stderr, "alegated: the rules stay: %s\n", why);
		return 0;
	}
	if (agd_after_stop(&cfg, unit, &remove, why, sizeof(why))) {
		fprintf(stderr, "alegated: %s\n", why);
		return 2;
	}
	printf("alegated: %s\n", why);
	return remove ? remove_rules() : 0;
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
	json_t *errs = json_array(), *na = json_array();

	agd_reload(d, errs, na);
	json_decref(errs);
	json_decref(na);
}

/* Runs on a callout's own thread: only signal the loop. */
static void completion_wake(void *arg)
{
	uint64_t one = 1;
	int fd = *(const int *)arg;

	if (write(fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		return; /* EAGAIN: the counter is full, the loop is woken already */
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
	/* Completions from callouts' own threads wake the loop here, not by
	 * polling: the engine queues them and writes this eventfd. */
	d->complete_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->complete_fd == -1 ||
	    agd_loop_add(d, d->complete_fd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_COMPLETE))
		return -errno;
	ag_engine_set_wake(d->engine, completion_wake, &d->complete_fd);
	return 0;
}

/* The soonest of the loop's own deadlines; -1: none. */
static int wake_ms(const struct agd *d)
{
	int w[] = { agd_fastpath_wake_ms(d), agd_guard_wake_ms(d), agd_watchdog_wake_ms(d) };
	int best = -1;

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (w[i] >= 0 && (best < 0 || w[i] < best))
			best = w[i];
	return best;
}

static void run(struct agd *d)
{
	struct epoll_event evs[64];

	while (!d->stop) {
		int n = epoll_wait(d->epfd, evs, 64, wake_ms(d));

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
			} else if (tag == AGD_TAG_FPEVENTS) {
				agd_fpevents_ready(d);
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
			} else if (tag == AGD_TAG_COMPLETE) {
				uint64_t cnt;

				if (read(d->complete_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
					log_debug("completion eventfd: %s", strerror(errno));
				ag_engine_run_completions(d->engine);
			} else if (tag == AGD_TAG_SIGNAL) {
				on_signal(d);
			} else if (tag == AGD_TAG_FWWATCH) {
				agd_notrack_watch_ready(d);
			} else if (tag == AGD_TAG_EXEID) {
				ag_exeid_receive(d->dp.exeid);
			} else if (tag == AGD_TAG_LISTS) {
				agd_lists_ready(d);
			} else if (tag == AGD_TAG_LISTREAD) {
				agd_lists_read_done(d);
			} else if (tag == AGD_TAG_HISTORY) {
				agd_history_answers(d);
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
		agd_guard_check(d);
		agd_watchdog_ping(d);
		agd_policy_collect(d);
		/* A rule's program replaced on disk: the kernel's copy of the
		 * rules names files by inode, so compile them again. */
		if (d->dp.exeid && ag_exeid_changed(d->dp.exeid))
			d->fastpath.dirty = true;
		if (d->life.timed_dirty)
			agd_timed_save(d);
		agd_fastpath_sync(d);
		agd_dataplane_flush(d);
		/* after the verdicts: what attribution left to close */
		if (d->dp.proc)
			ag_proc_release_taken(d->dp.proc);
		agd_timer_update(d);
	}
}

/*
 * Without -d: a child does the whole start-up while this process waits on
 * a pipe, so whoever started alegated learns that the firewall is up (exit
 * 0) or why it is not (the child's errors on stderr, exit 1).  The fork
 * comes before anything is opened; the seccomp filter, installed at the
 * end of start-up, then never meets a fork of ours.
 * Returns the pipe's write end in the child; the parent never returns.
 */
static int background(void)
{
	int pfd[2], status;
	char ok = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fprintf(stderr, "alegated: pipe: %s\n", strerror(errno));
		exit(1);
	}
	fflush(NULL);
	pid = fork();
	if (pid == -1) {
		fprintf(stderr, "alegated: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		return pfd[1];
	}
	close(pfd[1]);
	while (read(pfd[0], &ok, 1) == -1 && errno == EINTR)
		;
	if (ok == 'R')
		exit(0);
	/* the child ended before it was ready: it said why on stderr */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	exit(1);
}

/* Start-up is over: tell the waiting parent and let go of the terminal. */
static void detach(int ready_fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null != -1) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	agd_log_tee(false);
	if (write(ready_fd, "R", 1) != 1)
		log_warn("start-up pipe: %s", strerror(errno));
	close(ready_fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "force", no_argument, NULL, 'F' },
		{ "after-stop", optional_argument, NULL, 'A' },
		{ "netns", required_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agd daemon_state;
	struct agd *d = &daemon_state;
	const char *path = AG_CONFIG_PATH, *netns = NULL, *unit = NULL;
	bool check = false, cleanup = false, force = false, after = false;
	int c, ret = 1, ready_fd = -1;
	char *real;

	agd_init(d);
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
		case 'F':
			force = true;
			break;
		case 'A':
			after = true;
			unit = optarg;
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
	if (cleanup || after) {
		if (netns && enter_netns(netns))
			return 1;
		return cleanup ? cleanup_only(path, force) : after_stop(path, unit);
	}
	if (geteuid() != 0) {
		fprintf(stderr, "alegated: must run as root (it binds NFQUEUE and changes "
				"the firewall)\n");
		return 1;
	}
	/* reload reads it again after the chdir below */
	real = realpath(path, NULL);
	snprintf(d->config_path, sizeof(d->config_path), "%s", real ? real : path);
	free(real);
	agd_log_init(d->foreground, LOG_INFO);
	agd_log_tee(!d->foreground);
	if (ag_config_load(path, &d->cfg, 0, check_err, sizeof(check_err))) {
		if (d->foreground)
			fprintf(stderr, "%s\n", check_err);
		else
			agd_log_lines(LOG_ERR, NULL, check_err, NULL);
		log_err("cannot start: %s has errors (alegated -n -f %s lists them)", path, path);
		return 1;
	}
	agd_log_set_level(agd_syslog_level(d->cfg.log_level));
	if (!d->foreground) {
		ready_fd = background();
		if (chdir("/") == -1)
			log_debug("chdir /: %s", strerror(errno));
	}
	d->started_ns = ag_boot_ns();
	if (agd_pidfile_lock(d))
		return 1;

	ag_engine_config ec;
	ag_dataplane_ops ops;

	agd_engine_config(&d->cfg, &ec);
	if (getrandom(ec.hash_seed, sizeof(ec.hash_seed), 0) != sizeof(ec.hash_seed))
		log_warn("getrandom: %s; flow hashing uses a fixed key", strerror(errno));
	agd_dataplane_ops(d, &ops);
	agd_control_attach(d);
	d->engine = ag_engine_new(&ec, &ops);
	if (!d->engine) {
		log_err("engine: %s", strerror(errno));
		goto out;
	}
	if (setup_loop(d)) {
		log_err("event loop: %s", strerror(errno));
		goto out;
	}
	if (agd_policy_init(d))
		goto out;
	/* before the rules: those on "resolvers" need them */
	agd_resolvers_refresh(d, true);
	if (agd_lists_open(d, agd_rules_refresh_list))
		goto out;
	agd_policy_load(d);
	agd_timed_load(d);
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
	/* no history is no reason to stop the firewall: logged, runs without */
	agd_history_open(d);
	agd_fpevents_open(d);
	/* Rules a stopped daemon left (fail_mode closed) hold new flows while
	 * nobody reads the queues; the install below replaces them in one
	 * transaction, and a start that fails leaves them as they were. */
	{
		uint64_t sum;
		unsigned n = 0;

		d->life.fw_found = ag_fw_fingerprint(AG_FW_BACKEND_IPTABLES, &sum, &n) == 0 && n > 0;
		if (d->life.fw_found)
			log_info("taking over the firewall rules a stopped alegated left");
	}
	/* Told of every nftables change: the notrack table is decided again,
	 * and rules of ours that someone removed or changed are put back.
	 * Opened before the install, so no change falls between the two. */
	{
		int w = ag_fw_watch_open();

		if (w >= 0 && agd_loop_add(d, w, EPOLLIN, (void *)(uintptr_t)AGD_TAG_FWWATCH) == 0)
			d->fastpath.fwwatch_fd = w;
		else if (w >= 0)
			close(w);
		else
			log_warn("nftables watch: %s; the ruleset is looked at every 5 s",
				 strerror(-w));
	}
	if (agd_dataplane_install(d))
		goto out;
	agd_guard_start(d);
	agd_notrack_check(d);
	if (agd_privs_drop(d))
		goto out;
	/* After the drop: a module and the threads it starts run with the
	 * daemon's reduced privileges and its seccomp filter.  Its callouts'
	 * filters block until then (a named callout not registered blocks, as
	 * in WFP), but no queue is read before the loop runs. */
	if (agd_modules_load(d))
		goto out;
	d->running = true;
	log_info("alegated %s running: backend %s, fail_mode %s, %u rules, control %s",
		 AGD_VERSION, ag_fw_backend_name(d->dp.fw_backend),
		 d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? "open" : "closed", d->policy.nrules,
		 d->cfg.control_socket);
	agd_notify_ready(d);
	if (ready_fd != -1)
		detach(ready_fd);
	run(d);
	ret = 0;
out:
	agd_notify_stopping(d);
	/* S10: every pended operation is completed as blocked, then the
	 * verdicts go out before the queues close. */
	/* Modules stop their threads first; what they still hold pended is
	 * then completed as blocked with the rest. */
	agd_modules_fini(d);
	if (d->engine) {
		ag_engine_run_completions(d->engine);
		ag_engine_shutdown(d->engine);
	}
	agd_dataplane_flush(d);
	agd_dataplane_close(d);
	if (d->fastpath.fp)
		agd_fpevents_ready(d);
	agd_fastpath_close(d);
	agd_fpevents_close(d);
	agd_control_close(d);
	agd_history_close(d);
	if (d->running)
		agd_timed_save(d);
	agd_policy_free(d);
	agd_lists_close(d);
	ag_engine_free(d->engine);
	agd_modules_close(d);
	if (d->epfd != -1)
		close(d->epfd);
	if (d->timerfd != -1)
		close(d->timerfd);
	if (d->sigfd != -1)
		close(d->sigfd);
	if (d->complete_fd != -1)
		close(d->complete_fd);
	if (d->fastpath.fwwatch_fd != -1)
		close(d->fastpath.fwwatch_fd);
	agd_pidfile_release(d);
	log_info("stopped");
	return ret;
}
