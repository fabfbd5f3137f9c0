/*
 * fw_ctl — drive lib/linux/fw from the network tests.
 *
 *   fw_ctl probe                     print the backend this system supports
 *   fw_ctl render [OPTS] [-6]        print the ruleset
 *   fw_ctl install [OPTS]            install, print the backend used
 *   fw_ctl remove [-b BACKEND]       remove from one backend (default: probe)
 *   fw_ctl cleanup                   remove from every backend
 *   fw_ctl foreign [-b BACKEND]      "none", or "foreign: WHAT" (ag_fw_foreign();
 *                                    without -b, no mangle rule is ours)
 *   fw_ctl notrack on|off|render     load, remove or print the fast path's
 *                                    notrack table (ag_fw_notrack())
 *   fw_ctl watch MS                  "changed" if the nftables ruleset changes
 *                                    within MS milliseconds, else "quiet";
 *                                    "watching" on stderr once subscribed
 *
 * OPTS: -b auto|nftables|nft|iptables, -q BASE (queue base, default 0),
 *       -o (fail open), -l (intercept loopback), -N (no inbound).
 * Exit: 0 done, 1 failed (message on stderr), 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "linux/fw.h"
#include "linux/fwscan.h"

static int usage(void)
{
	fprintf(stderr, "usage: fw_ctl probe|render|install|remove|cleanup|foreign "
		"[-b BACKEND] [-q BASE] [-o] [-l] [-N] [-6]\n"
		"       fw_ctl watch MS\n"
		"       fw_ctl notrack on|off|render\n");
	return 2;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for a change of the nftables ruleset: 1 changed, 0 quiet. */
static int watch(long ms, char *err, size_t errlen)
{
	long long end;
	int fd, r;

	fd = ag_fw_watch_open();
	if (fd < 0) {
		snprintf(err, errlen, "watch: %s", strerror(-fd));
		return fd;
	}
	fprintf(stderr, "watching\n");
	end = now_ms() + ms;
	r = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = end - now_ms();

		if (left < 0)
			left = 0;
		if (poll(&p, 1, (int)left) == -1 && errno != EINTR) {
			r = -errno;
			break;
		}
		/* A wakeup with nothing to read is not a change. */
		r = ag_fw_watch_drain(fd);
		if (r != 0 || left == 0)
			break;
	}
	close(fd);
	if (r < 0)
		snprintf(err, errlen, "watch: %s", strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	struct ag_fw_config cfg = { .intercept_inbound = true };
	char err[AG_FW_ERR_MAX] = "";
	enum ag_fw_backend used;
	const char *cmd;
	int family = AF_INET, opt, ret;
	char *end;
	long q;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "b:q:olN6")) != -1) {
		switch (opt) {
		case 'b':
			if (!strcmp(optarg, "nft")) {
				cfg.backend = AG_FW_BACKEND_NFTABLES;
			} else if (ag_fw_backend_parse(optarg, &cfg.backend)) {
				fprintf(stderr, "fw_ctl: unknown backend \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'q':
			q = strtol(optarg, &end, 10);
			if (*end || q < 0 || q > 65533) {
				fprintf(stderr, "fw_ctl: bad queue base \"%s\"\n", optarg);
				return 2;
			}
			cfg.queue_base = (uint16_t)q;
			break;
		case 'o':
			cfg.fail_mode = AG_FW_FAIL_OPEN;
			break;
		case 'l':
			cfg.intercept_loopback = true;
			break;
		case 'N':
			cfg.intercept_inbound = false;
			break;
		case '6':
			family = AF_INET6;
			break;
		default:
			return usage();
		}
	}

	if (!strcmp(cmd, "probe")) {
		ret = ag_fw_probe(&used, err, sizeof(err));
		if (!ret)
			printf("%s\n", ag_fw_backend_name(used));
	} else if (!strcmp(cmd, "render")) {
		char buf[AG_FW_RULESET_MAX];

		if (cfg.backend == AG_FW_BACKEND_AUTO)
			cfg.backend = AG_FW_BACKEND_IPTABLES;
		ret = ag_fw_render(&cfg, cfg.backend, family, buf, sizeof(buf));
		if (ret >= 0) {
			fputs(buf, stdout);
			ret = 0;
		} else {
			snprintf(err, sizeof(err), "render: %s", strerror(-ret));
		}
	} else if (!strcmp(cmd, "install")) {
		ret = ag_fw_install(&cfg, &used, err, sizeof(err));
		if (!ret)
			printf("%s\n", ag_fw_backend_name(used));
	} else if (!strcmp(cmd, "remove")) {
		used = cfg.backend;
		ret = 0;
		if (used == AG_FW_BACKEND_AUTO)
			ret = ag_fw_probe(&used, err, sizeof(err));
		if (!ret)
			ret = ag_fw_remove(used, err, sizeof(err));
	} else if (!strcmp(cmd, "cleanup")) {
		ret = ag_fw_cleanup(err, sizeof(err));
	} else if (!strcmp(cmd, "foreign")) {
		char what[AG_FWSCAN_WHAT_MAX];

		ret = ag_fw_foreign(cfg.backend, what, sizeof(what));
		if (ret == 1)
			printf("foreign: %s\n", what);
		else if (ret == 0)
			printf("none\n");
		else
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		ret = ret < 0 ? ret : 0;
	} else if (!strcmp(cmd, "notrack")) {
		char buf[AG_FW_RULESET_MAX];

		if (optind != argc - 1)
			return usage();
		if (!strcmp(argv[optind], "render")) {
			ret = ag_fw_render_notrack(buf, sizeof(buf));
			if (ret >= 0) {
				fputs(buf, stdout);
				ret = 0;
			} else {
				snprintf(err, sizeof(err), "render: %s", strerror(-ret));
			}
		} else if (!strcmp(argv[optind], "on") || !strcmp(argv[optind], "off")) {
			ret = ag_fw_notrack(!strcmp(argv[optind], "on"), err, sizeof(err));
		} else {
			return usage();
		}
	} else if (!strcmp(cmd, "watch")) {
		long ms;

		if (optind != argc - 1)
			return usage();
		ms = strtol(argv[optind], &end, 10);
		if (*end || ms < 0 || ms > 3600000) {
			fprintf(stderr, "fw_ctl: bad time \"%s\"\n", argv[optind]);
			return 2;
		}
		ret = watch(ms, err, sizeof(err));
		if (ret >= 0)
			printf("%s\n", ret ? "changed" : "quiet");
		ret = ret < 0 ? ret : 0;
	} else {
		return usage();
	}
	if (ret) {
		fprintf(stderr, "fw_ctl %s: %s\n", cmd, err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}
