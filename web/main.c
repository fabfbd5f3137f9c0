/*
 * main.c — alegate-web: options, the access token, the listening socket,
 * start and stop.  See alegate-web(8) and docs/WEB.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "web/web.h"

#define DEFAULT_LISTEN "127.0.0.1:8470"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: alegate-web [-s SOCKET] [--listen ADDR:PORT] [--token-file FILE] [--remote]\n"
		"\n"
		"Serve alegate's web page and JSON API, and print the URL to open.\n"
		"\n"
		"  -s, --socket SOCKET   control socket (default $ALEGATE_SOCKET, else "
		AG_CTL_DEFAULT_SOCKET ")\n"
		"  -l, --listen ADDR:PORT  where to listen (default " DEFAULT_LISTEN
		"; port 0 picks one)\n"
		"  -t, --token-file FILE keep the access token in FILE (mode 0600), so it\n"
		"                        survives restarts; made on first use\n"
		"      --remote          allow an address other than loopback (plain HTTP:\n"
		"                        prefer ssh -L to a loopback address)\n"
		"  -h, --help            show this help and exit\n");
}

/* parse_listen - "ADDR:PORT", "[V6]:PORT" into @ss. 0 or -EINVAL. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
			char *host, size_t hostlen)
{
	const char *colon = strrchr(text, ':');
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char addr[INET6_ADDRSTRLEN + 2], *end;
	size_t alen;
	long port;

	if (!colon)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return -EINVAL;
	alen = (size_t)(colon - text);
	if (alen >= sizeof(addr) || alen >= hostlen)
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	memcpy(host, addr, alen + 1);
	memset(ss, 0, sizeof(*ss));
	if (alen > 2 && addr[0] == '[' && addr[alen - 1] == ']') {
		addr[alen - 1] = '\0';
		if (inet_pton(AF_INET6, addr + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
		return -EINVAL;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int new_token(char out[WEB_TOKEN_HEX + 1])
{
	unsigned char raw[WEB_TOKEN_BYTES];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
	return 0;
}

/*
 * token_file - read the token from @path, or make one and write it there
 * (mode 0600).  A file others may read, or that is not ours, is refused:
 * the token is the only thing between them and the firewall's decisions.
 */
static int token_file(const char *path, char out[WEB_TOKEN_HEX + 1])
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[WEB_TOKEN_HEX + 2];
	struct stat st;
	ssize_t n;

	if (fd == -1 && errno == ENOENT) {
		int r = new_token(out);

		if (r < 0)
			return r;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1) {
			fprintf(stderr, "alegate-web: cannot create \"%s\": %s\n", path, strerror(errno));
			return -1;
		}
		if (dprintf(fd, "%s\n", out) != WEB_TOKEN_HEX + 1 || fsync(fd) == -1) {
			fprintf(stderr, "alegate-web: cannot write \"%s\": %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	if (fd == -1) {
		fprintf(stderr, "alegate-web: cannot open \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		fprintf(stderr, "alegate-web: \"%s\" must be a regular file of uid %u that only it "
			"can read (mode 0600; it is %04o, uid %u)\n", path, (unsigned)geteuid(),
			(unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n != WEB_TOKEN_HEX || strspn(buf, "0123456789abcdef") < WEB_TOKEN_HEX) {
		fprintf(stderr, "alegate-web: \"%s\" does not hold a token (%d lowercase hex "
			"digits); remove it to make a new one\n", path, WEB_TOKEN_HEX);
		return -1;
	}
	memcpy(out, buf, WEB_TOKEN_HEX);
	out[WEB_TOKEN_HEX] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token-file", required_argument, NULL, 't' },
		{ "remote", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("ALEGATE_SOCKET"), *listen_at = DEFAULT_LISTEN, *tfile = NULL;
	static struct web_conf conf;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[INET6_ADDRSTRLEN + 3];
	bool remote = false;
	int opt, fd, one = 1, sig;
	sigset_t sigs;

	if (!sock || !*sock)
		sock = AG_CTL_DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "s:l:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'l': listen_at = optarg; break;
		case 't': tfile = optarg; break;
		case 'R': remote = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "alegate-web: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (parse_listen(listen_at, &ss, &sslen, host, sizeof(host)) < 0) {
		fprintf(stderr, "alegate-web: bad --listen \"%s\" (use ADDR:PORT, e.g. "
			DEFAULT_LISTEN " or [::1]:8470)\n", listen_at);
		return 2;
	}
	if (!is_loopback(&ss)) {
		if (!remote) {
			fprintf(stderr, "alegate-web: %s is not a loopback address: other machines "
				"could reach the page over plain HTTP.  Prefer ssh -L to a loopback "
				"address; add --remote to listen there anyway\n", host);
			return 2;
		}
		fprintf(stderr, "alegate-web: warning: listening on %s, reachable from other "
			"machines over plain HTTP: the token and every answer cross the network "
			"unencrypted\n", host);
	}
	if (tfile ? token_file(tfile, conf.token) < 0 : new_token(conf.token) < 0) {
		if (!tfile)
			fprintf(stderr, "alegate-web: getrandom: %s\n", strerror(errno));
		return 1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sslen) == -1 || listen(fd, 64) == -1) {
		fprintf(stderr, "alegate-web: cannot listen on %s: %s\n", listen_at, strerror(errno));
		return 1;
	}
	sslen = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	conf.port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	conf.listen_host = host;
	snprintf(conf.cookie_name, sizeof(conf.cookie_name), "alegate_web_%u", conf.port);

	/* Threads started from here on leave these signals to sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (hub_start(sock) < 0 || http_start(&conf, fd) < 0) {
		fprintf(stderr, "alegate-web: cannot start the server\n");
		return 1;
	}
	printf("http://%s:%u/?token=%s\n", host, conf.port, conf.token);
	fflush(stdout);
	do {
		if (sigwait(&sigs, &sig))
			break;
	} while (sig == SIGHUP);
	hub_stop();
	http_stop();
	hub_free();
	return 0;
}
