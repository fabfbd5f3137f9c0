/*
 * fuzz_control.c — control-protocol messages as the daemon receives them:
 * each input is split into lines and handed to the request handler of a
 * daemon whose engine and rule store are real (rules_dir is a fresh
 * temporary directory, so `always` rules are written and read back), with
 * an authorized client.  Replies are drained and thrown away.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/policy.h"

static struct agd d;

static uint64_t fuzz_clock(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void setup(void)
{
	static char dir[] = "/tmp/alegate-fuzz-control.XXXXXX";
	ag_engine_config ec;
	ag_dataplane_ops ops;

	agd_log_init(true, LOG_EMERG); /* quiet */
	ag_config_defaults(&d.cfg);
	if (!mkdtemp(dir))
		abort();
	snprintf(d.cfg.rules_dir, sizeof(d.cfg.rules_dir), "%s", dir);
	agd_init(&d);
	ag_engine_config_default(&ec);
	ec.clock = fuzz_clock;
	agd_dataplane_ops(&d, &ops);
	agd_control_attach(&d);
	d.engine = ag_engine_new(&ec, &ops);
	if (!d.engine || agd_policy_init(&d))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	char sink[65536];

	if (!d.engine)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		return 0;
	struct agd_client *c = agd__control_client(&d, sv[0], 0);

	if (c) {
		const char *p = (const char *)data, *end = p + size;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

			agd__control_feed(&d, c, p, len);
			while (read(sv[1], sink, sizeof(sink)) > 0)
				;
			p += len + 1;
		}
		agd__control_client_close(&d, c); /* closes sv[0]; ends the session */
	} else {
		close(sv[0]);
	}
	close(sv[1]);
	agd_policy_collect(&d);
	return 0;
}
