/*
 * web_hold — many TCP connects at once from one process, held open: the
 * waiting flows of bench/web_bench.
 *
 *   web_hold -n COUNT -r RATE ADDR PORT
 *
 * Starts COUNT non-blocking connects (IPv4, numeric) at RATE per second and
 * keeps every socket until SIGTERM; prints "started N" when all are out.
 * Sleeps between connects rather than spinning: the machine has 2 cores.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = 1000, rate = 100;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec t0, now;
	struct rlimit rl = { 65536, 65536 };
	sigset_t s;
	int opt, sig;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			count = atol(optarg);
		else if (opt == 'r')
			rate = atol(optarg);
		else
			goto usage;
	}
	if (argc - optind != 2 || count <= 0 || rate <= 0 ||
	    inet_pton(AF_INET, argv[optind], &sa.sin_addr) != 1)
		goto usage;
	sa.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	setrlimit(RLIMIT_NOFILE, &rl);
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigprocmask(SIG_BLOCK, &s, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd == -1) {
			perror("web_hold: socket");
			return 1;
		}
		connect(fd, (struct sockaddr *)&sa, sizeof(sa));	/* EINPROGRESS: held */
		/* pace against the start */
		double due = (double)(i + 1) / (double)rate;

		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;

			if (el >= due)
				break;
			struct timespec d = { 0, (long)((due - el) * 1e9) };

			nanosleep(&d, NULL);
		}
	}
	printf("started %ld\n", count);
	fflush(stdout);
	sigwait(&s, &sig);
	return 0;
usage:
	fprintf(stderr, "usage: web_hold -n COUNT -r RATE ADDR PORT\n");
	return 2;
}
