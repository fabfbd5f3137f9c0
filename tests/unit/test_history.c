/*
 * test_history.c — the connection history's writer, in-process: what the
 * loop queues (agd_history_conn, agd_history_end) is in history.db once
 * the history is closed, every row whole, each end on its row, however
 * the writer groups rows into statements.
 */
#include <arpa/inet.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "check.h"
#include "daemon/alegated.h"
#include "daemon/history.h"
#include "daemon/log.h"
#include "net/packet.h"

static char dir[64];

static struct agd *history_new(void)
{
	struct agd *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	agd_log_init(true, LOG_ERR);
	ag_config_defaults(&d->cfg);
	snprintf(dir, sizeof(dir), "/tmp/alegate-test-history.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	snprintf(d->cfg.state_dir, sizeof(d->cfg.state_dir), "%s", dir);
	d->cfg.history_days = 0;
	d->cfg.history_max_mb = 1024;
	d->cfg.event_log = AG_CFG_EVENT_LOG_NONE;
	agd_init(d);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (agd_history_open(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static sqlite3 *db_open(void)
{
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/history.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void history_free(struct agd *d)
{
	char cmd[128];

	agd_history_close(d);
	close(d->epfd);
	free(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "test_history: could not remove %s\n", dir);
}

#define N 1000
#define T0 1700000000000ll

/* Connection i: TCP over IPv4 mostly, UDP over IPv6 every third, and
 * every seventh with neither a local address nor a program, host or rule. */
static void conn(int i, struct agd_conn *c, char *exe, size_t elen)
{
	memset(c, 0, sizeof(*c));
	c->flow = 5000 + (uint64_t)i;
	c->time_ms = (uint64_t)(T0 + i);
	c->pid = 100 + (uint32_t)i;
	c->uid = 1000;
	c->action = i % 5 == 4 ? "deny" : "allow";
	c->decided = i % 2 ? "fastpath" : "rule";
	c->direction = i % 4 == 1 ? AG_DIR_IN : AG_DIR_OUT;
	if (i % 3 == 0) {
		c->ip_version = 6;
		c->protocol = AG_IPPROTO_UDP;
		inet_pton(AF_INET6, "2001:db8::1", c->local_addr.b);
		inet_pton(AF_INET6, "2001:db8:0:1::", c->remote_addr.b);
		c->remote_addr.b[14] = (uint8_t)(i >> 8);
		c->remote_addr.b[15] = (uint8_t)i;
		c->remote_port = 53;
	} else {
		c->ip_version = 4;
		c->protocol = i % 11 == 1 ? 47 : AG_IPPROTO_TCP;
		c->local_addr.b[0] = 192, c->local_addr.b[1] = 0, c->local_addr.b[2] = 2;
		c->local_addr.b[3] = 1;
		c->remote_addr.b[0] = 198, c->remote_addr.b[1] = 51;
		c->remote_addr.b[2] = (uint8_t)(i >> 8), c->remote_addr.b[3] = (uint8_t)i;
		c->remote_port = i == 2 ? 65535 : 443;
	}
	c->local_port = (uint16_t)(i == 2 ? 0 : 1024 + i);
	if (i % 7 == 6) {
		c->no_local = true;
		return;
	}
	snprintf(exe, elen, "/usr/bin/app%d", i % 13);
	c->exe = exe;
	c->host = i % 5 == 2 ? NULL : "host.example.org";
	c->rule = i % 2 ? "6fa9e23e" : NULL;
}

static void expect_endpoint(char *buf, size_t len, const struct agd_conn *c, bool local)
{
	char a[INET6_ADDRSTRLEN];
	const ag_addr *addr = local ? &c->local_addr : &c->remote_addr;

	inet_ntop(c->ip_version == 6 ? AF_INET6 : AF_INET, addr->b, a, sizeof(a));
	snprintf(buf, len, c->ip_version == 6 ? "[%s]:%u" : "%s:%u", a,
		 local ? c->local_port : c->remote_port);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "(null)";
}

/* A thousand rows queued at once (many INSERTs of 32 rows and the sizes
 * below), their ends in between: TCP ends folded into their row, UDP ends
 * updating a row an INSERT of the same batch wrote just before. */
TEST(a_thousand_rows_with_ends_between_them_are_each_written_whole)
{
	struct agd *d = history_new();
	char exe[64], want[128];
	struct agd_conn c;
	sqlite3_stmt *st;
	sqlite3 *db;
	int n = 0;

	CHECK(d);
	for (int i = 0; i < N; i++) {
		conn(i, &c, exe, sizeof(exe));
		agd_history_conn(d, &c);
		/* the end of connection i - 5 (every other one), while rows
		 * after it are queued */
		if (i >= 5 && i % 2)
			agd_history_end(d, 5000 + (uint64_t)(i - 5), 1000 + (uint64_t)i, 7);
	}
	agd_history_close(d);
	CHECK((db = db_open()));
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT time_ms, exe, pid, uid, proto, direction, local,"
				    " remote, host, action, rule, decided, end_ms, bytes_in,"
				    " bytes_out, flow FROM conn ORDER BY id", -1, &st, NULL),
		 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int i = n++;
		bool ended = i + 5 < N && (i + 5) % 2 && i + 5 >= 5;

		conn(i, &c, exe, sizeof(exe));
		CHECK_EQ(sqlite3_column_int64(st, 0), T0 + i);
		CHECK_STR(col_text(st, 1), c.exe ? c.exe : "(null)");
		CHECK_EQ(sqlite3_column_int64(st, 2), 100 + i);
		CHECK_EQ(sqlite3_column_int64(st, 3), 1000);
		CHECK_STR(col_text(st, 4), c.protocol == 47 ? "47" : c.protocol == AG_IPPROTO_UDP ? "udp"
										      : "tcp");
		CHECK_STR(col_text(st, 5), c.direction == AG_DIR_IN ? "in" : "out");
		expect_endpoint(want, sizeof(want), &c, true);
		CHECK_STR(col_text(st, 6), c.no_local ? "(null)" : want);
		expect_endpoint(want, sizeof(want), &c, false);
		CHECK_STR(col_text(st, 7), want);
		CHECK_STR(col_text(st, 8), c.host ? c.host : "(null)");
		CHECK_STR(col_text(st, 9), c.action);
		CHECK_STR(col_text(st, 10), c.rule ? c.rule : "(null)");
		CHECK_STR(col_text(st, 11), c.decided);
		if (ended) {
			CHECK(sqlite3_column_int64(st, 12) > 0);
			CHECK_EQ(sqlite3_column_int64(st, 13), 1000 + i + 5);
			CHECK_EQ(sqlite3_column_int64(st, 14), 7);
			CHECK_EQ(sqlite3_column_type(st, 15), SQLITE_NULL);
		} else {
			CHECK_EQ(sqlite3_column_type(st, 12), SQLITE_NULL);
			CHECK_EQ(sqlite3_column_type(st, 13), SQLITE_NULL);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	CHECK_EQ(n, N);
	history_free(d);
}

/* A new file gets 16 KiB pages (a quarter of the writes' system calls of
 * 4 KiB ones); a file an older version made with 4 KiB pages keeps them,
 * and its rows, and takes new rows. */
TEST(a_new_file_has_16k_pages_and_an_old_4k_file_keeps_its_rows)
{
	struct agd *d = history_new();
	char exe[64], path[128];
	struct agd_conn c;
	sqlite3 *db;
	sqlite3_stmt *st;

	CHECK(d);
	agd_history_close(d);
	CHECK((db = db_open()));
	CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL), SQLITE_OK);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_EQ(sqlite3_column_int(st, 0), 16384);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* the file as the previous version made it */
	snprintf(path, sizeof(path), "%s/history.db", dir);
	unlink(path);
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
			      "CREATE TABLE conn(id INTEGER PRIMARY KEY,"
			      " time_ms INTEGER NOT NULL, exe TEXT, pid INTEGER, uid INTEGER,"
			      " proto TEXT, direction TEXT, local TEXT, remote TEXT, host TEXT,"
			      " action TEXT, rule TEXT, decided TEXT,"
			      " end_ms INTEGER, bytes_in INTEGER, bytes_out INTEGER, flow INTEGER);"
			      "CREATE INDEX conn_time_exe ON conn(time_ms, exe, bytes_in, bytes_out);"
			      "CREATE INDEX conn_open ON conn(flow) WHERE flow IS NOT NULL;"
			      "INSERT INTO conn(time_ms, exe, proto, direction, remote, action, decided,"
			      " flow) VALUES(5, '/usr/bin/old', 'tcp', 'out', '192.0.2.9:80', 'allow',"
			      " 'rule', 77);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(agd_history_open(d), 0);
	for (int i = 0; i < 40; i++) {
		conn(i, &c, exe, sizeof(exe));
		agd_history_conn(d, &c);
	}
	agd_history_close(d);
	CHECK((db = db_open()));
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT (SELECT page_size FROM pragma_page_size),"
				    " count(*), sum(exe = '/usr/bin/old' AND flow IS NULL),"
				    " sum(time_ms >= ?) FROM conn", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, T0);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_EQ(sqlite3_column_int(st, 0), 4096);
	CHECK_EQ(sqlite3_column_int(st, 1), 41);
	CHECK_EQ(sqlite3_column_int(st, 2), 1);
	CHECK_EQ(sqlite3_column_int(st, 3), 40);
	sqlite3_finalize(st);
	sqlite3_close(db);
	history_free(d);
}

/* A program's path as long as the kernel gives (4095 bytes) and a long
 * host name are kept whole through the queue's text. */
TEST(a_4095_byte_program_path_is_kept_whole)
{
	struct agd *d = history_new();
	static char exe[4096], host[256];
	char scratch[64];
	struct agd_conn c;
	sqlite3 *db;
	sqlite3_stmt *st;

	CHECK(d);
	memset(exe, 'a', sizeof(exe) - 1);
	exe[0] = '/';
	memset(host, 'h', sizeof(host) - 1);
	for (int i = 0; i < 3; i++) {
		conn(i, &c, scratch, sizeof(scratch));
		c.exe = exe;
		c.host = host;
		agd_history_conn(d, &c);
	}
	agd_history_close(d);
	CHECK((db = db_open()));
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT count(*), min(length(exe)), min(length(host)),"
				    " sum(exe = ?1) FROM conn", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, exe, -1, SQLITE_STATIC);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_EQ(sqlite3_column_int(st, 0), 3);
	CHECK_EQ(sqlite3_column_int(st, 1), 4095);
	CHECK_EQ(sqlite3_column_int(st, 2), 255);
	CHECK_EQ(sqlite3_column_int(st, 3), 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
	history_free(d);
}
