/*
 * fw_apply.c — load and remove the rules by running nft, iptables-restore
 * and iptables-save as child processes: no shell, absolute paths, a clean
 * environment, the ruleset on stdin, stderr captured for the message.
 *
 * The iptables backend reads `iptables-save -t mangle` to learn what an
 * older instance left (our chains, and every rule anywhere in mangle that
 * jumps to them) and turns it into -D/-F/-X lines of the same
 * iptables-restore transaction, because -D of a rule that is not there
 * fails the whole transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "linux/fw_internal.h"

/* Where the tools are looked for, in order; never $PATH. */
static const char *const fw_tool_dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
/* A tool that runs longer is killed: iptables-restore -w waits at most
 * FW_LOCK_WAIT_S for the xtables lock, so this is a hang. */
#define FW_TOOL_TIMEOUT_MS	30000
#define FW_LOCK_WAIT_S		"10"
/* The most output of a tool we read (a large mangle table). */
#define FW_OUT_MAX		(16u << 20)
/* stderr kept for the message. */
#define FW_STDERR_MAX		1024

/* The absolute path of tool in path (PATH_MAX-free: tools have short
 * names), or -ENOENT. */
static int fw_find_tool(const char *tool, char *path, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(fw_tool_dirs) / sizeof(fw_tool_dirs[0]); i++) {
		int n = snprintf(path, len, "%s/%s", fw_tool_dirs[i], tool);

		if (n > 0 && (size_t)n < len && access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* A pipe end moved above stderr, so dup2 onto 0-2 in the child always
 * clears close-on-exec (dup2 of an fd onto itself would not). */
static int fw_high_fd(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

struct fw_child_io {
	const char *in;		/* written to stdin, may be NULL */
	size_t inlen;
	char *out;		/* stdout, malloc'd, NUL-terminated; NULL: discard */
	size_t outlen;
	bool want_out;
	char errbuf[FW_STDERR_MAX];
	size_t errlen;
};

static int fw_grow(char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 4096;
	char *nbuf;

	while (ncap < need)
		ncap *= 2;
	if (ncap == *cap)
		return 0;
	nbuf = realloc(*buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	*buf = nbuf;
	*cap = ncap;
	return 0;
}

/* Feed stdin, drain stdout and stderr together (a child blocked on a full
 * stdout never reads the rest of its stdin), until both close. */
static int fw_child_pump(pid_t pid, int in_fd, int out_fd, int err_fd,
			 struct fw_child_io *io)
{
	struct timespec start, now;
	size_t written = 0, cap = 0;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!io->in || !io->inlen) {
		close(in_fd);
		in_fd = -1;
	}
	while (out_fd != -1 || err_fd != -1) {
		struct pollfd p[3] = {
			{ .fd = out_fd, .events = POLLIN },
			{ .fd = err_fd, .events = POLLIN },
			{ .fd = in_fd, .events = POLLOUT },
		};
		long waited;
		int r, k;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 +
			 (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= FW_TOOL_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			ret = -ETIMEDOUT;
			break;
		}
		r = poll(p, 3, (int)(FW_TOOL_TIMEOUT_MS - waited));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (in_fd != -1 && p[2].revents) {
			/* A socket, not a pipe: MSG_NOSIGNAL keeps a child
			 * that exits early from killing us with SIGPIPE. */
			ssize_t n = send(in_fd, io->in + written, io->inlen - written,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0)
				written += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
			    written == io->inlen) {
				close(in_fd);
				in_fd = -1;
			}
		}
		for (k = 0; k < 2; k++) {
			int *fd = k ? &err_fd : &out_fd;
			char tmp[4096];
			ssize_t n;

			if (*fd == -1 || !p[k].revents)
				continue;
			n = read(*fd, tmp, sizeof(tmp));
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			if (k) {
				size_t room = sizeof(io->errbuf) - 1 - io->errlen;
				size_t m = (size_t)n < room ? (size_t)n : room;

				memcpy(io->errbuf + io->errlen, tmp, m);
				io->errlen += m;
				io->errbuf[io->errlen] = '\0';
			} else if (io->want_out) {
				if (io->outlen + (size_t)n + 1 > FW_OUT_MAX) {
					ret = -EFBIG;
					kill(pid, SIGKILL);
					goto out;
				}
				if (fw_grow(&io->out, &cap, io->outlen + (size_t)n + 1)) {
					ret = -ENOMEM;
					kill(pid, SIGKILL);
					goto out;
				}
				memcpy(io->out + io->outlen, tmp, (size_t)n);
				io->outlen += (size_t)n;
				io->out[io->outlen] = '\0';
			}
		}
	}
out:
	if (in_fd != -1)
		close(in_fd);
	if (out_fd != -1)
		close(out_fd);
	if (err_fd != -1)
		close(err_fd);
	return ret;
}

/* stderr as one line for the message: newlines become "; ", runs of
 * blanks (nft indents the rule it quotes) one space. */
static void fw_flatten(const char *in, char *out, size_t outlen)
{
	size_t o = 0, n = strlen(in);

	while (n && (in[n - 1] == '\n' || in[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n && o + 3 < outlen; i++) {
		if (in[i] == '\n') {
			out[o++] = ';';
			out[o++] = ' ';
		} else if (in[i] == ' ' || in[i] == '\t') {
			if (o && out[o - 1] != ' ')
				out[o++] = ' ';
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

/*
 * Run argv[0] (an absolute path) with io->in on stdin.  Returns 0 when it
 * exited with status 0; otherwise -EIO (or the -errno of what failed) with
 * a message naming the command, its status and its stderr.
 */
static int fw_run(const char *const argv[], struct fw_child_io *io,
		  char *err, size_t errlen)
{
	static const int sigs[] = { SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP,
				    SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			       (char *)"LC_ALL=C", NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char cmd[256] = "", msg[FW_STDERR_MAX + FW_STDERR_MAX / 2];
	pid_t pid;
	int ret, status, i;
	size_t k;

	for (i = 0; argv[i]; i++) {
		size_t used = strlen(cmd);

		snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "", argv[i]);
	}
	io->errlen = 0;
	io->errbuf[0] = '\0';
	io->outlen = 0;
	io->out = NULL;

	/* stdin is a socket so that writing to a child that already
	 * exited fails with EPIPE instead of raising SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(er, O_CLOEXEC) == -1) {
		ret = -errno;
		ag_seterr(err, errlen, "%s: cannot make pipes: %s", cmd, strerror(-ret));
		goto fail_fds;
	}
	in[0] = fw_high_fd(in[0]);
	out[1] = fw_high_fd(out[1]);
	er[1] = fw_high_fd(er[1]);
	if (in[0] == -1 || out[1] == -1 || er[1] == -1) {
		ret = -errno;
		ag_seterr(err, errlen, "%s: cannot make pipes: %s", cmd, strerror(-ret));
		goto fail_fds;
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	posix_spawnattr_init(&attr);
	/* The daemon's signal mask and handlers are not the tool's. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		sigaddset(&dfl, sigs[k]);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	ret = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	close(er[1]);
	in[0] = out[1] = er[1] = -1;
	if (ret) {
		ag_seterr(err, errlen, "%s: cannot run: %s", cmd, strerror(ret));
		ret = -ret;
		goto fail_fds;
	}

	ret = fw_child_pump(pid, in[1], out[0], er[0], io);
	in[1] = out[0] = er[0] = -1;
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (ret) {
		ag_seterr(err, errlen, "%s: %s", cmd,
		       ret == -ETIMEDOUT ? "no answer, killed" : strerror(-ret));
		goto fail;
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fw_flatten(io->errbuf, msg, sizeof(msg));
	if (status != -1 && WIFEXITED(status))
		ag_seterr(err, errlen, "%s failed (exit %d): %s", cmd,
		       WEXITSTATUS(status), msg[0] ? msg : "no message");
	else
		ag_seterr(err, errlen, "%s failed (killed by signal %d): %s", cmd,
		       status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		       msg[0] ? msg : "no message");
	ret = -EIO;
	goto fail;

fail_fds:
	for (i = 0; i < 2; i++) {
		if (in[i] != -1)
			close(in[i]);
		if (out[i] != -1)
			close(out[i]);
		if (er[i] != -1)
			close(er[i]);
	}
fail:
	free(io->out);
	io->out = NULL;
	io->outlen = 0;
	return ret;
}

static int fw_tool(const char *tool, char *path, size_t len, char *err, size_t errlen)
{
	if (fw_find_tool(tool, path, len) == 0)
		return 0;
	ag_seterr(err, errlen, "%s not found in /usr/sbin, /sbin, /usr/bin or /bin "
	       "(install the package that has it)", tool);
	return -ENOENT;
}

/* ---- nftables ------------------------------------------------------------- */

static int fw_nft_load(const char *script, char *err, size_t errlen)
{
	char nft[64];
	const char *argv[] = { nft, "-f", "-", NULL };
	struct fw_child_io io = { .in = script, .inlen = strlen(script) };
	int ret;

	ret = fw_tool("nft", nft, sizeof(nft), err, errlen);
	if (ret)
		return ret;
	return fw_run(argv, &io, err, errlen);
}

static int fw_nft_remove(char *err, size_t errlen)
{
	/* Adding the table first makes the delete succeed when it is not
	 * there: one transaction, idempotent, on any nft version. */
	return fw_nft_load("table inet " AG_FW_NFT_TABLE "\n"
			   "delete table inet " AG_FW_NFT_TABLE "\n", err, errlen);
}

/* Is our table (inet `name`) there?  False also where nftables itself is
 * missing (a legacy-iptables kernel), so cleanup has nothing to do there. */
static bool fw_nft_table_exists(const char *name)
{
	char nft[64];
	const char *argv[] = { nft, "list", "table", "inet", name, NULL };
	struct fw_child_io io = { .want_out = true };
	int ret;

	if (fw_find_tool("nft", nft, sizeof(nft)))
		return false;
	ret = fw_run(argv, &io, NULL, 0);
	free(io.out);
	return ret == 0;
}

/* ---- the notrack table (either backend) ---------------------------------------- */

static const char fw_notrack_delete[] = "table inet " AG_FW_NFT_NOTRACK_TABLE "\n"
					 "delete table inet " AG_FW_NFT_NOTRACK_TABLE "\n";

int ag_fw_notrack(bool on, char *err, size_t errlen)
{
	char *script;
	int ret;

	if (!on)
		return fw_nft_load(fw_notrack_delete, err, errlen);
	script = malloc(AG_FW_RULESET_MAX);
	if (!script)
		return -ENOMEM;
	ret = ag_fw_render_notrack(script, AG_FW_RULESET_MAX);
	if (ret >= 0)
		ret = fw_nft_load(script, err, errlen);
	else
		ag_seterr(err, errlen, "notrack ruleset: %s", strerror(-ret));
	free(script);
	return ret;
}

/* Removed only where it is: a host without nftables has none, and nft
 * would fail there. */
static int fw_notrack_remove_if_there(char *err, size_t errlen)
{
	return fw_nft_table_exists(AG_FW_NFT_NOTRACK_TABLE) ? ag_fw_notrack(false, err, errlen) : 0;
}

/* ---- iptables ---------------------------------------------------------------- */

struct fw_family {
	int family;
	const char *restore, *save, *name;
};

static const struct fw_family fw_families[] = {
	{ AF_INET, "iptables-restore", "iptables-save", "IPv4" },
	{ AF_INET6, "ip6tables-restore", "ip6tables-save", "IPv6" },
};

static bool fw_have_ipv6(void)
{
	return access("/proc/net/if_inet6", F_OK) == 0;
}

/* A growing text buffer for the generated -D/-F/-X lines. */
struct fw_text {
	char *s;
	size_t len, cap;
};

static int fw_text_add(struct fw_text *t, const char *a, size_t alen, const char *b)
{
	size_t blen = b ? strlen(b) : 0;

	if (fw_grow(&t->s, &t->cap, t->len + alen + blen + 1))
		return -ENOMEM;
	memcpy(t->s + t->len, a, alen);
	memcpy(t->s + t->len + alen, b ? b : "", blen);
	t->len += alen + blen;
	t->s[t->len] = '\0';
	return 0;
}

static bool fw_is_ours(const char *name, size_t len)
{
	size_t plen = strlen(AG_FW_IPT_PREFIX);

	return len > plen && !strncmp(name, AG_FW_IPT_PREFIX, plen);
}

/* The next whitespace-separated token of a saved rule; a double-quoted
 * token (a comment) may hold blanks and \" escapes. */
static const char *fw_token(const char *p, const char *end, size_t *len)
{
	const char *s;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	s = p;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\' && p + 1 < end)
				p++;
		if (p < end)
			p++;
	} else {
		while (p < end && *p != ' ' && *p != '\t')
			p++;
	}
	*len = (size_t)(p - s);
	return s;
}

/* Does the saved rule [p, end) jump (-j/-g) to one of our chains? */
static bool fw_rule_targets_ours(const char *p, const char *end)
{
	size_t len;
	const char *tok;
	bool jump = false;

	while (p < end) {
		tok = fw_token(p, end, &len);
		if (!len)
			break;
		if (jump && fw_is_ours(tok, len))
			return true;
		jump = (len == 2 && (!strncmp(tok, "-j", 2) || !strncmp(tok, "-g", 2))) ||
		       (len == 6 && !strncmp(tok, "--jump", 6)) ||
		       (len == 6 && !strncmp(tok, "--goto", 6));
		p = tok + len;
	}
	return false;
}

/* ag__fw_ipt_removal() appending to t. */
static int fw_ipt_removal(const char *saved, bool keep_chains, struct fw_text *t,
			  bool *found)
{
	struct fw_text flush = { 0 }, del = { 0 };
	const char *line, *nl;
	int ret = 0;

	*found = false;
	for (line = saved; line && *line; line = nl ? nl + 1 : NULL) {
		const char *end, *tok;
		size_t len;

		nl = strchr(line, '\n');
		end = nl ? nl : line + strlen(line);
		if (line[0] == ':') {
			tok = fw_token(line + 1, end, &len);
			if (!fw_is_ours(tok, len))
				continue;
			*found = true;
			if (keep_chains && ((len == strlen(AG_FW_IPT_CHAIN_OUT) &&
					     !strncmp(tok, AG_FW_IPT_CHAIN_OUT, len)) ||
					    (len == strlen(AG_FW_IPT_CHAIN_IN) &&
					     !strncmp(tok, AG_FW_IPT_CHAIN_IN, len))))
				continue;
			if (fw_text_add(&flush, "-F ", 3, NULL) ||
			    fw_text_add(&flush, tok, len, "\n") ||
			    fw_text_add(&del, "-X ", 3, NULL) ||
			    fw_text_add(&del, tok, len, "\n"))
				ret = -ENOMEM;
		} else if (!strncmp(line, "-A ", 3)) {
			tok = fw_token(line + 3, end, &len);
			if (fw_is_ours(tok, len) || !fw_rule_targets_ours(tok + len, end))
				continue;
			*found = true;
			if (fw_text_add(t, "-D ", 3, NULL) ||
			    fw_text_add(t, line + 3, (size_t)(end - line - 3), "\n"))
				ret = -ENOMEM;
		}
		if (ret)
			break;
	}
	if (!ret && flush.len && (fw_text_add(t, flush.s, flush.len, NULL) ||
				  fw_text_add(t, del.s, del.len, NULL)))
		ret = -ENOMEM;
	free(flush.s);
	free(del.s);
	return ret;
}

int ag__fw_ipt_removal(const char *saved, bool keep_chains, char **out, bool *found)
{
	struct fw_text t = { 0 };
	int ret = fw_ipt_removal(saved, keep_chains, &t, found);

	if (ret) {
		free(t.s);
		t.s = NULL;
	}
	*out = t.s;
	return ret;
}

static int fw_ipt_save(const struct fw_family *f, char **out, char *err, size_t errlen)
{
	char save[64];
	const char *argv[] = { save, "-t", "mangle", NULL };
	struct fw_child_io io = { .want_out = true };
	int ret;

	ret = fw_tool(f->save, save, sizeof(save), err, errlen);
	if (ret)
		return ret;
	ret = fw_run(argv, &io, err, errlen);
	if (ret)
		return ret;
	*out = io.out ? io.out : strdup("");
	return *out ? 0 : -ENOMEM;
}

static int fw_ipt_restore(const struct fw_family *f, const char *text,
			  char *err, size_t errlen)
{
	char restore[64];
	const char *argv[] = { restore, "-w", FW_LOCK_WAIT_S, "--noflush", NULL };
	struct fw_child_io io = { .in = text, .inlen = strlen(text) };
	int ret;

	ret = fw_tool(f->restore, restore, sizeof(restore), err, errlen);
	if (ret)
		return ret;
	return fw_run(argv, &io, err, errlen);
}

static int fw_ipt_remove_family(const struct fw_family *f, char *err, size_t errlen)
{
	struct fw_text t = { 0 };
	char *saved = NULL;
	bool found;
	int ret;

	ret = fw_ipt_save(f, &saved, err, errlen);
	if (ret)
		return ret;
	ret = fw_text_add(&t, "*mangle\n", 8, NULL);
	if (!ret)
		ret = fw_ipt_removal(saved, false, &t, &found);
	if (!ret)
		ret = fw_text_add(&t, "COMMIT\n", 7, NULL);
	if (!ret && found)
		ret = fw_ipt_restore(f, t.s, err, errlen);
	free(saved);
	free(t.s);
	return ret;
}

static int fw_ipt_install_family(const struct ag_fw_config *cfg,
				 const struct fw_family *f, char *err, size_t errlen)
{
	struct fw_text pre = { 0 };
	char *saved = NULL, *text = NULL;
	bool found;
	int ret, n;

	ret = fw_ipt_save(f, &saved, err, errlen);
	if (ret)
		return ret;
	ret = fw_ipt_removal(saved, true, &pre, &found);
	if (ret)
		goto out;
	text = malloc(AG_FW_RULESET_MAX + pre.len);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	n = ag__fw_render_ipt(cfg, f->family, pre.s, text, AG_FW_RULESET_MAX + pre.len);
	if (n < 0) {
		ret = n;
		ag_seterr(err, errlen, "%s ruleset: %s", f->name, strerror(-ret));
		goto out;
	}
	ret = fw_ipt_restore(f, text, err, errlen);
out:
	free(saved);
	free(pre.s);
	free(text);
	return ret;
}

static int fw_ipt_remove(char *err, size_t errlen)
{
	size_t i;
	int ret, first = 0;

	/* Both families even if one fails: remove as much as we can. */
	for (i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++) {
		if (fw_families[i].family == AF_INET6 && !fw_have_ipv6())
			continue;
		ret = fw_ipt_remove_family(&fw_families[i],
					   first ? NULL : err, first ? 0 : errlen);
		if (ret && !first)
			first = ret;
	}
	return first;
}

static int fw_ipt_install(const struct ag_fw_config *cfg, char *err, size_t errlen)
{
	int ret;

	ret = fw_ipt_install_family(cfg, &fw_families[0], err, errlen);
	if (ret || !fw_have_ipv6())
		return ret;
	ret = fw_ipt_install_family(cfg, &fw_families[1], err, errlen);
	if (ret)
		fw_ipt_remove_family(&fw_families[0], NULL, 0);
	return ret;
}

/* ---- the public side ------------------------------------------------------ */

/* Does the kernel know the NFQUEUE target?  Listed once registered; when
 * it is a module not loaded yet, iptables loads it on first use. */
static bool fw_kernel_has_nfqueue(void)
{
	char line[64], path[320];
	struct utsname u;
	bool found = false;
	FILE *f = fopen("/proc/net/ip_tables_targets", "re");

	if (f) {
		while (!found && fgets(line, sizeof(line), f))
			found = !strcmp(line, "NFQUEUE\n");
		fclose(f);
		if (found)
			return true;
	}
	if (uname(&u) == -1)
		return false;
	snprintf(path, sizeof(path),
		 "/lib/modules/%s/kernel/net/netfilter/xt_NFQUEUE.ko", u.release);
	if (access(path, F_OK) == 0)
		return true;
	strncat(path, ".xz", sizeof(path) - strlen(path) - 1);
	if (access(path, F_OK) == 0)
		return true;
	path[strlen(path) - 3] = '\0';
	strncat(path, ".zst", sizeof(path) - strlen(path) - 1);
	return access(path, F_OK) == 0;
}

static bool fw_nft_has_queue(char *why, size_t whylen)
{
	/* `nft --check` sends the batch to the kernel, which validates each
	 * expression and then aborts: nothing is ever committed. */
	static const char probe[] =
		"table inet alegate_probe {\n"
		"\tchain probe {\n"
		"\t\ttype filter hook output priority mangle; policy accept;\n"
		"\t\tqueue num 0 bypass\n"
		"\t}\n"
		"}\n";
	char nft[64];
	const char *argv[] = { nft, "--check", "-f", "-", NULL };
	struct fw_child_io io = { .in = probe, .inlen = sizeof(probe) - 1 };

	if (fw_tool("nft", nft, sizeof(nft), why, whylen))
		return false;
	return fw_run(argv, &io, why, whylen) == 0;
}

int ag_fw_probe(enum ag_fw_backend *out, char *err, size_t errlen)
{
	char nft_why[AG_FW_ERR_MAX] = "", path[64];
	size_t i;

	if (fw_nft_has_queue(nft_why, sizeof(nft_why))) {
		*out = AG_FW_BACKEND_NFTABLES;
		return 0;
	}
	for (i = 0; i < sizeof(fw_families) / sizeof(fw_families[0]); i++) {
		if (fw_find_tool(fw_families[i].restore, path, sizeof(path)) ||
		    fw_find_tool(fw_families[i].save, path, sizeof(path))) {
			ag_seterr(err, errlen, "no firewall backend: nftables cannot queue (%s), "
			       "and %s or %s is missing", nft_why,
			       fw_families[i].restore, fw_families[i].save);
			return -EOPNOTSUPP;
		}
	}
	if (!fw_kernel_has_nfqueue()) {
		ag_seterr(err, errlen, "no firewall backend: nftables cannot queue (%s), "
		       "and the kernel has no NFQUEUE target", nft_why);
		return -EOPNOTSUPP;
	}
	*out = AG_FW_BACKEND_IPTABLES;
	return 0;
}

int ag_fw_install(const struct ag_fw_config *cfg, enum ag_fw_backend *used,
		  char *err, size_t errlen)
{
	enum ag_fw_backend b;
	char *script;
	int ret;

	if (ag__fw_check_config(cfg)) {
		ag_seterr(err, errlen, "bad firewall config (queue_base %u: the three "
		       "queues must fit below 65536)", cfg ? cfg->queue_base : 0);
		return -EINVAL;
	}
	b = cfg->backend;
	if (b == AG_FW_BACKEND_AUTO) {
		ret = ag_fw_probe(&b, err, errlen);
		if (ret)
			return ret;
	}
	if (b == AG_FW_BACKEND_IPTABLES) {
		ret = fw_ipt_install(cfg, err, errlen);
	} else {
		script = malloc(AG_FW_RULESET_MAX);
		if (!script)
			return -ENOMEM;
		ret = ag_fw_render(cfg, b, AF_UNSPEC, script, AG_FW_RULESET_MAX);
		if (ret >= 0)
			ret = fw_nft_load(script, err, errlen);
		else
			ag_seterr(err, errlen, "nft ruleset: %s", strerror(-ret));
		free(script);
	}
	if (!ret && used)
		*used = b;
	return ret;
}

int ag_fw_remove(enum ag_fw_backend backend, char *err, size_t errlen)
{
	int ret;

	switch (backend) {
	case AG_FW_BACKEND_NFTABLES:
		ret = fw_nft_remove(err, errlen);
		break;
	case AG_FW_BACKEND_IPTABLES:
		ret = fw_ipt_remove(err, errlen);
		break;
	default:
		ag_seterr(err, errlen, "cannot remove rules of backend \"%s\"",
		       ag_fw_backend_name(backend));
		return -EINVAL;
	}
	if (ret)
		return ret;
	return fw_notrack_remove_if_there(err, errlen);
}

int ag_fw_cleanup(char *err, size_t errlen)
{
	char path[64];
	int ret, first = 0;

	if (fw_nft_table_exists(AG_FW_NFT_TABLE)) {
		ret = fw_nft_remove(err, errlen);
		if (ret)
			first = ret;
	}
	ret = fw_notrack_remove_if_there(first ? NULL : err, first ? 0 : errlen);
	if (ret && !first)
		first = ret;
	if (fw_find_tool("iptables-save", path, sizeof(path)) == 0 ||
	    fw_find_tool("ip6tables-save", path, sizeof(path)) == 0) {
		ret = fw_ipt_remove(first ? NULL : err, first ? 0 : errlen);
		if (ret && !first)
			first = ret;
	}
	return first;
}
