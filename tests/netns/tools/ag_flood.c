/*
 * ag_flood — many new UDP flows, fast: each datagram from a new socket (a new
 * source port), so each is a new flow to classify.
 *
 *   ag_flood -r RATE -d SECONDS ADDR PORT
 *
 * Prints "flows N" at the end.  Paced against the start so the rate holds on
 * average even when a send is slow, and by sleeping, not spinning: a 2-core
 * machine has no core to spare for the sender.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long rate = 1000, flows = 0;
	double secs = 1;
	int opt;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	while ((opt = getopt(argc, argv, "r:d:")) != -1) {
		if (opt == 'r')
			rate = atol(optarg);
		else if (opt == 'd')
			secs = atof(optarg);
		else
			return 2;
	}
	if (argc - optind != 2 || getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "usage: ag_flood -r RATE -d SECONDS ADDR PORT\n");
		return 2;
	}
	double t0 = now(), end = t0 + secs;

	while (now() < end) {
		double due = t0 + (double)flows / (double)rate, t = now();

		if (due > t + 0.0005) {
			struct timespec ts = { 0, (long)((due - t) * 1e9) };

			nanosleep(&ts, NULL);
		}
		int fd = socket(ai->ai_family, SOCK_DGRAM, 0);

		if (fd == -1)
			continue;
		sendto(fd, "flood", 5, 0, ai->ai_addr, ai->ai_addrlen);
		close(fd);
		flows++;
	}
	freeaddrinfo(ai);
	printf("flows %ld\n", flows);
	return 0;
}
