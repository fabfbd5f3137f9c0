/*
 * fw_ctl — drive lib/linux/fw from the network tests.
 *
 *   fw_ctl probe                     print the backend this system supports
 *   fw_ctl render [OPTS] [-6]        print the ruleset
 *   fw_ctl install [OPTS]            install, print the backend used
 *   fw_ctl remove [-b BACKEND]       remove from one backend (default: probe)
 *   fw_ctl cleanup                   remove from every backend
 *
 * OPTS: -b auto|nftables|iptables, -q BASE (queue base, default 0),
 *       -o (fail open), -l (intercept loopback), -N (no inbound).
 * Exit: 0 done, 1 failed (message on stderr), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux/fw.h"

static int usage(void)
{
	fprintf(stderr, "usage: fw_ctl probe|render|install|remove|cleanup "
		"[-b BACKEND] [-q BASE] [-o] [-l] [-N] [-6]\n");
	return 2;
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
			if (ag_fw_backend_parse(optarg, &cfg.backend)) {
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
	} else {
		return usage();
	}
	if (ret) {
		fprintf(stderr, "fw_ctl %s: %s\n", cmd, err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}
