/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the helpers of common/ that test-conf and test-metrics do
 * not cover: host:port, size and number parsing with the reasons they
 * give, sizes for people, mcstore's words for its statuses, the option
 * helpers built on them (mcs_opt_size, mcs_opt_hostport, mcs_opt_invalid),
 * the master and etcd endpoint grammar (common/endpoints.c) with the bad
 * part its reasons name,
 * log levels and "%m", poll and TCP on loopback, and the service manager
 * notifications (common/notify.c) against a socket of the test's own: a
 * path and an abstract name, the sender's pid, WATCHDOG_USEC/WATCHDOG_PID
 * and the watchdog's rate limit.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/endpoints.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "mcstore.h"

/* ---- host:port -------------------------------------------------------- */

/* Adaptive busy polling: no budget, no polling; a burst of short waits
 * turns it on within four waits even after an idle spell, and three long
 * waits in a row turn it off; a wait counts as at most four budgets. */
START_TEST(test_busy_estimate)
{
	const uint64_t b = 50000; /* a 50 us budget */
	ck_assert(!mcs_busy_should_spin(0, 0));
	ck_assert(mcs_busy_should_spin(0, b));
	uint64_t e = 0;
	int n;
	/* an idle spell: the estimate is capped, and polling stops after 3 */
	for (n = 1; n <= 10 && mcs_busy_should_spin(e, b); n++)
		e = mcs_busy_idle(e, 5000000000ull, b);
	ck_assert_int_eq(n - 1, 3);
	for (int i = 0; i < 50; i++)
		e = mcs_busy_idle(e, 5000000000ull, b);
	ck_assert_uint_le(e, 4 * b);
	ck_assert_uint_gt(e, 3 * b);
	/* a burst (waits of 5 us): polled again from its fourth wait */
	for (n = 1; n <= 10 && !mcs_busy_should_spin(e, b); n++)
		e = mcs_busy_idle(e, 5000, b);
	ck_assert_int_eq(n - 1, 3);
	/* steady short waits: the estimate settles near them */
	for (int i = 0; i < 50; i++)
		e = mcs_busy_idle(e, 5000, b);
	ck_assert_uint_le(e, 5001);
	ck_assert_uint_ge(e, 5000);
	/* one long wait among short ones does not stop polling */
	e = mcs_busy_idle(e, 5000000000ull, b);
	ck_assert(mcs_busy_should_spin(e, b));
	/* waits just above the budget do, after a few */
	for (int i = 0; i < 40; i++)
		e = mcs_busy_idle(e, 2 * b, b);
	ck_assert(!mcs_busy_should_spin(e, b));
}
END_TEST

START_TEST(test_hostport_ok)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
	} cases[] = {
		{ "127.0.0.1:50051", "127.0.0.1", 50051 },
		{ "[::1]:80", "::1", 80 },
		{ "[fe80::1%eth0]:1", "fe80::1%eth0", 1 },
		{ "master.example:65535", "master.example", 65535 },
		{ "h:007", "h", 7 },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		char host[64];
		uint16_t port = 0;
		ck_assert_msg(mcs_parse_hostport(cases[i].in, host, sizeof(host), &port) == 0, "%s", cases[i].in);
		ck_assert_str_eq(host, cases[i].host);
		ck_assert_uint_eq(port, cases[i].port);
		/* and back: what parses again to the same host and port */
		char out[80], again[64];
		uint16_t port2 = 0;
		mcs_fmt_hostport(host, port, out, sizeof(out));
		ck_assert_int_eq(mcs_parse_hostport(out, again, sizeof(again), &port2), 0);
		ck_assert_str_eq(again, cases[i].host);
		ck_assert_uint_eq(port2, cases[i].port);
	}
}
END_TEST

START_TEST(test_hostport_bad)
{
	static const char *const bad[] = {
		"",                /* empty */
		"localhost",       /* no port */
		"127.0.0.1:",      /* empty port */
		"[::1]",           /* no port after the brackets */
		"[::1]80",         /* no colon after them */
		"[::1:80",         /* unclosed */
		"h:0",             /* port 0 */
		"h:65536",         /* past 65535 */
		"h:99999999999999999999999", "h:-1", "h:+1", "h:1x", "h: 1", "h:0x50",
		":80", "[]:80",    /* empty host */
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++) {
		char host[64] = "untouched";
		uint16_t port = 4242;
		ck_assert_msg(mcs_parse_hostport(bad[i], host, sizeof(host), &port) == -EINVAL, "'%s'", bad[i]);
		ck_assert_str_eq(host, "untouched");
		ck_assert_uint_eq(port, 4242);
	}
	char host[8];
	uint16_t port;
	ck_assert_int_eq(mcs_parse_hostport(NULL, host, sizeof(host), &port), -EINVAL);
	/* the host and its NUL must fit: 7 characters in 8 bytes, not 8 */
	ck_assert_int_eq(mcs_parse_hostport("abcdefg:1", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "abcdefg");
	ck_assert_int_eq(mcs_parse_hostport("abcdefgh:1", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(mcs_parse_hostport("[abcdefgh]:1", host, sizeof(host), &port), -EINVAL);
}
END_TEST

/* ---- master addresses and etcd member lists ---------------------------- */

START_TEST(test_master_addr_ok)
{
	static const char *const good[] = {
		"127.0.0.1:50051", "[::1]:50051", "master.example:1",
		"etcd://127.0.0.1:2379", "etcd://a:1;b:2;c:3", "etcd://a:1,b:2", "etcd://http://a:1;http://[::1]:2",
		"etcd://a:1;", /* a separator may end the list */
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(good); i++) {
		char why[256] = "untouched";
		ck_assert_msg(mcs_master_addr_valid(good[i], why, sizeof(why)), "'%s': %s", good[i], why);
		ck_assert_str_eq(why, "untouched");
	}
	ck_assert(mcs_master_addr_is_etcd("etcd://a:1"));
	ck_assert(!mcs_master_addr_is_etcd("a:1"));
	ck_assert(!mcs_master_addr_is_etcd(NULL));

	/* the members, in order, with the prefixes taken off */
	char member[MCS_ETCD_MAX_ENDPOINTS][MCS_MEMBER_MAX];
	unsigned n = 0;
	ck_assert_int_eq(mcs_etcd_members("etcd://h1:1;http://h2:2,[::1]:3", member, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(member[0], "h1:1");
	ck_assert_str_eq(member[1], "h2:2");
	ck_assert_str_eq(member[2], "[::1]:3");
	/* the list without its scheme, as --etcd-endpoints takes it */
	ck_assert_int_eq(mcs_etcd_members("h1:1;h2:2", NULL, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(test_master_addr_bad)
{
	/* each refused, the reason naming the part that is wrong */
	static const struct {
		const char *in, *names;
	} bad[] = {
		{ "", "empty" },
		{ "localhost", "no port" },
		{ "h:0", "port 1..65535" },
		{ ":80", "no host" },
		{ "http://h:1", "scheme 'http' unknown" },
		{ "etcd://", "no etcd member" },
		{ "etcd://a:1;b", "etcd member 'b': no port" },
		{ "etcd://a:1;;c:3", "etcd member '': empty" },
		{ "etcd://a:1;b:99999", "etcd member 'b:99999'" },
		{ "etcd://a:1,:2", "etcd member ':2': no host" },
		{ "etcd://a:1;b:x;c:3", "etcd member 'b:x'" },
		{ "etcd://x:1;x:2;x:3;x:4;x:5;x:6;x:7;x:8;x:9;x:10;x:11;x:12;x:13;x:14;x:15;x:16;x:17",
		  "'x:17': more than 16" },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++) {
		char why[512] = "";
		ck_assert_msg(!mcs_master_addr_valid(bad[i].in, why, sizeof(why)), "'%s' taken", bad[i].in);
		ck_assert_msg(strstr(why, bad[i].names), "'%s': '%s' does not say '%s'", bad[i].in, why, bad[i].names);
	}
	ck_assert(!mcs_master_addr_valid(NULL, NULL, 0));
	/* a member longer than any host is refused without overflowing */
	char big[600] = "etcd://";
	memset(big + 7, 'h', 500);
	strcpy(big + 507, ":1");
	char why[64];
	ck_assert(!mcs_master_addr_valid(big, why, sizeof(why)));
	ck_assert(strstr(why, "etcd member 'hhh"));
	unsigned n = 77;
	ck_assert_int_eq(mcs_etcd_members("a:1;b", NULL, &n, NULL, 0), -EINVAL);
	ck_assert_uint_eq(n, 77);
}
END_TEST

/* ---- sizes and numbers ------------------------------------------------ */

START_TEST(test_size_ok)
{
	static const struct {
		const char *in;
		uint64_t v;
	} cases[] = {
		{ "0", 0 }, { "123", 123 }, { "4K", 4096 }, { "4k", 4096 }, { "16M", 16 << 20 },
		{ "16MB", 16 << 20 }, { "16MiB", 16 << 20 }, { "16mib", 16 << 20 }, { "1G", 1ull << 30 },
		{ "2T", 2ull << 40 }, { "18446744073709551615", UINT64_MAX },
		{ "16777215T", 16777215ull << 40 }, /* the largest T that fits */
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		uint64_t v = 1;
		const char *why = "untouched";
		ck_assert_msg(mcs_parse_size_why(cases[i].in, &v, &why) == 0, "%s", cases[i].in);
		ck_assert_uint_eq(v, cases[i].v);
		ck_assert_str_eq(why, "untouched");
		v = 1;
		ck_assert_int_eq(mcs_parse_size(cases[i].in, &v), 0);
		ck_assert_uint_eq(v, cases[i].v);
	}
}
END_TEST

START_TEST(test_size_why)
{
	static const char not_number[] = "not a number",
			  not_whole[] = "not a whole number: use a smaller unit (1536M, not 1.5G)",
			  suffix[] = "unknown suffix: K, M, G or T (powers of 1024)", large[] = "too large";
	static const struct {
		const char *in;
		int r;
		const char *why;
	} cases[] = {
		{ "", -EINVAL, not_number },      { "x", -EINVAL, not_number },
		{ "-1", -EINVAL, not_number },    { " 1", -EINVAL, not_number },
		{ "1.5G", -EINVAL, not_whole },   { "1,5G", -EINVAL, not_whole },
		{ "10X", -EINVAL, suffix },       { "16MX", -EINVAL, suffix },
		{ "16MiBx", -EINVAL, suffix },    { "1 G", -EINVAL, suffix },
		{ "18446744073709551616", -ERANGE, large },
		{ "99999999999999999999", -ERANGE, large },
		{ "16777216T", -ERANGE, large }, /* 2^64 */
		{ "17179869184G", -ERANGE, large },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		uint64_t v = 42;
		const char *why = NULL;
		ck_assert_msg(mcs_parse_size_why(cases[i].in, &v, &why) == cases[i].r, "'%s'", cases[i].in);
		ck_assert_ptr_nonnull(why);
		ck_assert_str_eq(why, cases[i].why);
		ck_assert_uint_eq(v, 42);
		ck_assert_int_eq(mcs_parse_size(cases[i].in, &v), cases[i].r);
		ck_assert_uint_eq(v, 42);
	}
	const char *why = NULL;
	uint64_t v = 42;
	ck_assert_int_eq(mcs_parse_size_why(NULL, &v, &why), -EINVAL);
	ck_assert_str_eq(why, not_number);
	ck_assert_int_eq(mcs_parse_size_why("1x", &v, NULL), -EINVAL);
}
END_TEST

START_TEST(test_u64)
{
	uint64_t v = 42;
	ck_assert_int_eq(mcs_parse_u64("0", 0, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(mcs_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(mcs_parse_u64("100", 100, &v), 0);
	ck_assert_uint_eq(v, 100);
	v = 42;
	ck_assert_int_eq(mcs_parse_u64("101", 100, &v), -ERANGE);
	ck_assert_int_eq(mcs_parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "0x10", "1e3", "1K" };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++)
		ck_assert_msg(mcs_parse_u64(bad[i], UINT64_MAX, &v) == -EINVAL, "'%s'", bad[i]);
	ck_assert_int_eq(mcs_parse_u64(NULL, UINT64_MAX, &v), -EINVAL);
	ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(test_fmt_size)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ (1ull << 20) - 1, "1.0 MiB" }, /* not "1024.0 KiB" */
		{ (1ull << 30) - 1, "1.0 GiB" },
		{ 64ull << 20, "64.0 MiB" },
		{ 3ull << 30, "3.0 GiB" },
		{ 1ull << 40, "1.0 TiB" },
		{ 1ull << 50, "1.0 PiB" },
		{ UINT64_MAX, "16384.0 PiB" }, /* no unit past PiB */
	};
	char buf[32];
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		ck_assert_ptr_eq(mcs_fmt_size(cases[i].v, buf, sizeof(buf)), buf);
		ck_assert_str_eq(buf, cases[i].s);
	}
	/* a short buffer: cut, and still a string */
	char small[4];
	ck_assert_str_eq(mcs_fmt_size(64ull << 20, small, sizeof(small)), "64.");
}
END_TEST

/* ---- statuses --------------------------------------------------------- */

START_TEST(test_strerror_words)
{
	/* every status include/mcstore.h names, with mcstore's words */
	static const struct {
		int status;
		const char *words;
	} cases[] = {
		{ -ENOENT, "no such key" },
		{ -EAGAIN, "the key's put has not ended yet (replica not ready)" },
		{ -EEXIST, "key already exists" },
		{ -ENOSPC, "no space left in any segment" },
		{ -EXFULL, "not enough nodes for the replicas asked" },
		{ -EBUSY, "object is leased by a reader" },
		{ -EBADMSG, "checksum mismatch on every replica" },
		{ -ERANGE, "buffer too small for the object" },
		{ -EREMOTE, "replica is not on this node" },
		{ -ENAMETOOLONG, "key too long" },
		{ -EMSGSIZE, "length exceeds the configured limit" },
		{ -EPROTO, "malformed protocol message" },
		{ -EPROTONOSUPPORT, "protocol version mismatch" },
		{ -EHOSTDOWN, "master unavailable" },
		{ -ETIMEDOUT, "timed out" },
		{ -ENODEV, "no such segment" },
		{ -ESRCH, "no such hold" },
		{ -EINVAL, "Invalid argument" }, /* the system's words fit */
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++)
		ck_assert_str_eq(mcs_status_text(cases[i].status), cases[i].words);
	ck_assert_str_eq(mcs_status_text(0), "success");
}
END_TEST

START_TEST(test_strerror_other)
{
	/* any other errno: the system's words (in English, whatever the locale) */
	static const int other[] = { ECONNREFUSED, EACCES, ENOMEM, EPIPE, ECHILD, EMFILE };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(other); i++)
		ck_assert_str_eq(mcs_status_text(-other[i]), strerrordesc_np(other[i]));
	ck_assert_str_eq(mcs_status_text(-ECONNREFUSED), "Connection refused");
	/* not a status: positive, below -4095, or an errno without a name */
	ck_assert_str_eq(mcs_status_text(1), "unknown status");
	ck_assert_str_eq(mcs_status_text(-4096), "unknown status");
	ck_assert_str_eq(mcs_status_text(-4000), "unknown status");
	ck_assert_str_eq(mcs_status_text(-2147483647 - 1), "unknown status");
}
END_TEST

/* ---- stderr, captured ------------------------------------------------- */

static int cap_fd = -1, cap_saved = -1;

static void capture_start(void)
{
	char path[] = "/tmp/test-common-err.XXXXXX";
	fflush(stderr);
	cap_fd = mkostemp(path, O_CLOEXEC);
	ck_assert_int_ge(cap_fd, 0);
	unlink(path);
	cap_saved = dup(STDERR_FILENO);
	ck_assert_int_ge(cap_saved, 0);
	ck_assert_int_eq(dup2(cap_fd, STDERR_FILENO), STDERR_FILENO);
}

/* What went to stderr since capture_start(). */
static const char *capture_end(void)
{
	static char buf[4096];
	fflush(stderr);
	ck_assert_int_eq(dup2(cap_saved, STDERR_FILENO), STDERR_FILENO);
	close(cap_saved);
	ssize_t n = pread(cap_fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(cap_fd);
	return buf;
}

/* ---- option helpers --------------------------------------------------- */

static char opt_err[1024];

/* A context for option NAME = ARG, from the command line (file NULL) or
 * from FILE:LINE, whose messages land in opt_err. */
static struct mcs_opt_ctx opt_ctx(const struct mcs_opt_spec *spec, const char *name, const char *arg,
				  const char *file, unsigned line)
{
	return (struct mcs_opt_ctx){ .spec = spec, .name = name, .arg = arg, .file = file, .line = line };
}

static FILE *opt_stream(void)
{
	memset(opt_err, 0, sizeof(opt_err));
	FILE *f = fmemopen(opt_err, sizeof(opt_err), "w");
	ck_assert_ptr_nonnull(f);
	setvbuf(f, NULL, _IONBF, 0);
	return f;
}

START_TEST(test_opt_invalid)
{
	FILE *f = opt_stream();
	const struct mcs_opt_spec spec = { .prog = "prog", .err = f };
	struct mcs_opt_ctx c = opt_ctx(&spec, "port", "x", NULL, 0);
	ck_assert_int_eq(mcs_opt_invalid(&c, "0..65535"), -EINVAL);
	c = opt_ctx(&spec, "port", "x", "/etc/p.conf", 7);
	ck_assert_int_eq(mcs_opt_invalid(&c, NULL), -EINVAL);
	c = opt_ctx(&spec, "fast", NULL, NULL, 0);
	ck_assert_int_eq(mcs_opt_invalid(&c, "takes no value"), -EINVAL);
	fclose(f);
	ck_assert_str_eq(opt_err, "prog: invalid --port 'x' (0..65535)\n"
				  "/etc/p.conf:7: invalid port 'x'\n"
				  "prog: invalid --fast (takes no value)\n");
}
END_TEST

START_TEST(test_opt_size)
{
	static const struct {
		const char *arg;
		int r;
		uint64_t v;
		const char *err;
	} cases[] = {
		{ "16M", 0, 16 << 20, "" },
		{ "4M", 0, 4 << 20, "" },
		{ "1G", 0, 1ull << 30, "" },
		{ "1M", -EINVAL, 0, "prog: invalid --segment-size '1M' (at least 4.0 MiB)\n" },
		{ "2G", -EINVAL, 0, "prog: invalid --segment-size '2G' (at most 1.0 GiB)\n" },
		{ "1.5G", -EINVAL, 0,
		  "prog: invalid --segment-size '1.5G' (not a whole number: use a smaller unit (1536M, not 1.5G))\n" },
		{ "10X", -EINVAL, 0,
		  "prog: invalid --segment-size '10X' (unknown suffix: K, M, G or T (powers of 1024))\n" },
		{ "99999999999999999999", -EINVAL, 0,
		  "prog: invalid --segment-size '99999999999999999999' (too large)\n" },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		FILE *f = opt_stream();
		const struct mcs_opt_spec spec = { .prog = "prog", .err = f };
		struct mcs_opt_ctx c = opt_ctx(&spec, "segment-size", cases[i].arg, NULL, 0);
		uint64_t v = 0;
		ck_assert_int_eq(mcs_opt_size(&c, cases[i].arg, 4 << 20, 1ull << 30, &v), cases[i].r);
		fclose(f);
		ck_assert_uint_eq(v, cases[i].v);
		ck_assert_str_eq(opt_err, cases[i].err);
	}
}
END_TEST

START_TEST(test_opt_hostport)
{
	static const char no_port[] = "no port: HOST:PORT, e.g. 10.0.0.1:50051 or [::1]:50051",
			  bad_port[] = "HOST:PORT with a port 1..65535 and a host of at most 255 bytes",
			  no_host[] = "no host: HOST:PORT, e.g. 10.0.0.1:50051";
	static const struct {
		const char *arg;
		const char *why; /* NULL: accepted */
	} cases[] = {
		{ "10.0.0.1:50051", NULL }, { "[::1]:50051", NULL }, { "10.0.0.1", no_port },
		{ "[::1]", no_port },       { "[::1]50051", no_port }, { "h:0", bad_port },
		{ "h:65536", bad_port },    { "h:", bad_port },       { ":1", no_host },
		{ "[]:1", no_host },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		FILE *f = opt_stream();
		const struct mcs_opt_spec spec = { .prog = "prog", .err = f };
		struct mcs_opt_ctx c = opt_ctx(&spec, "master", cases[i].arg, "m.conf", 3);
		int r = mcs_opt_hostport(&c, cases[i].arg);
		fclose(f);
		if (!cases[i].why) {
			ck_assert_msg(r == 0, "%s: %s", cases[i].arg, opt_err);
			ck_assert_str_eq(opt_err, "");
			continue;
		}
		char want[256];
		snprintf(want, sizeof(want), "m.conf:3: invalid master '%s' (%s)\n", cases[i].arg, cases[i].why);
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_str_eq(opt_err, want);
	}
}
END_TEST

START_TEST(test_conf_dir)
{
	const char *d = mcs_conf_dir();
	size_t n = strlen(d);
	ck_assert_int_eq(d[0], '/');
	ck_assert_uint_gt(n, strlen("/mcstore"));
	ck_assert_str_eq(d + n - strlen("/mcstore"), "/mcstore");
}
END_TEST

/* ---- logging ---------------------------------------------------------- */

START_TEST(test_log_levels)
{
	static const struct {
		const char *name;
		int level;
	} cases[] = {
		{ "error", MCS_LOG_ERR },   { "warning", MCS_LOG_WARNING }, { "notice", MCS_LOG_NOTICE },
		{ "info", MCS_LOG_INFO },   { "debug", MCS_LOG_DEBUG },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++)
		ck_assert_int_eq(mcs_log_parse_level(cases[i].name), cases[i].level);
	static const char *const bad[] = { "", "warn", "err", "Info", "debug ", "7" };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(mcs_log_parse_level(bad[i]), -EINVAL);
}
END_TEST

START_TEST(test_log_lines)
{
	char want[512];
	unsetenv("JOURNAL_STREAM");
	mcs_log_init("t", MCS_LOG_INFO);
	capture_start();
	/* %m: mcstore's words for a status, the system's for an errno; -abs */
	ck_assert_int_eq(log_warning_errno(-ENOENT, "get %s: %m (%d%%)", "k", 5), -ENOENT);
	ck_assert_int_eq(log_error_errno(ECONNREFUSED, "connect: %m"), -ECONNREFUSED);
	log_debug("not shown at info");
	ck_assert_int_eq(mcs_log_errno(MCS_LOG_DEBUG, -EIO, "nor this: %m"), -EIO);
	log_info("plain");
	const char *out = capture_end();
	snprintf(want, sizeof(want),
		 "t[%d]: warning: get k: no such key (5%%)\n"
		 "t[%d]: error: connect: Connection refused\n"
		 "t[%d]: info: plain\n",
		 (int)getpid(), (int)getpid(), (int)getpid());
	ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_log_journal)
{
	/* stderr is the journal's stream when $JOURNAL_STREAM names it: the
	 * level goes in a "<N>" prefix */
	char js[64];
	struct stat st;
	capture_start();
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	mcs_log_init("t", MCS_LOG_DEBUG);
	log_notice("to the journal");
	log_debug("at debug too");
	const char *out = capture_end();
	unsetenv("JOURNAL_STREAM");
	ck_assert_str_eq(out, "<5>to the journal\n<7>at debug too\n");
}
END_TEST

/* ---- poll and TCP ----------------------------------------------------- */

START_TEST(test_poll_fd)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(mcs_poll_fd(p[0], POLLIN, 10), -ETIMEDOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(mcs_poll_fd(p[0], POLLIN, -1), 0);
	ck_assert_int_eq(mcs_poll_fd(p[1], POLLOUT, 0), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Lines a peer can cause: ten a minute, then a count of those left out. */
START_TEST(test_ratelimit)
{
	struct mcs_ratelimit rl = { 0 };
	char note[64];
	for (int i = 0; i < MCS_RATELIMIT_BURST; i++) {
		ck_assert(mcs_ratelimit_ok(&rl, note, sizeof(note)));
		ck_assert_str_eq(note, "");
	}
	for (int i = 0; i < 5; i++)
		ck_assert(!mcs_ratelimit_ok(&rl, note, sizeof(note)));
	rl.window_ms -= 60000; /* a minute on */
	ck_assert(mcs_ratelimit_ok(&rl, note, sizeof(note)));
	ck_assert_str_eq(note, " (and 5 more like it not logged)");
	ck_assert(mcs_ratelimit_ok(&rl, note, sizeof(note)));
	ck_assert_str_eq(note, "");
}
END_TEST

START_TEST(test_tcp)
{
	uint16_t port = 0;
	const char *why = NULL;
	int l = mcs_tcp_listen("127.0.0.1", 0, 4, &port, &why);
	ck_assert_int_ge(l, 0);
	ck_assert_uint_ne(port, 0);
	ck_assert(fcntl(l, F_GETFD) & FD_CLOEXEC);
	int c = mcs_tcp_connect("127.0.0.1", port, 10000, &why);
	ck_assert_int_ge(c, 0);
	ck_assert(fcntl(c, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(c, F_GETFL) & O_NONBLOCK);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(write(c, "ping", 4), 4);
	char buf[8];
	ck_assert_int_eq(read(a, buf, sizeof(buf)), 4);
	close(a);
	close(c);
	close(l);
	/* nothing listens there now */
	ck_assert_int_eq(mcs_tcp_connect("127.0.0.1", port, 10000, &why), -ECONNREFUSED);
	/* the port is taken while one listens */
	l = mcs_tcp_listen("127.0.0.1", 0, 4, &port, NULL);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(mcs_tcp_listen("127.0.0.1", port, 4, NULL, NULL), -EADDRINUSE);
	close(l);
}
END_TEST

/* ---- notifications ---------------------------------------------------- */

static char sock_dir[64];

/* A datagram socket at NOTIFY_SOCKET's address: the path sock_dir/n.sock
 * (abstract: false), or an abstract name; NOTIFY_SOCKET is set to it. */
static int listen_notify(bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env[sizeof(sa.sun_path) + 1];
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	struct timeval tv = { .tv_sec = 10 };
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (abstract) {
		snprintf(env, sizeof(env), "@mcstore-test-common-%d", (int)getpid());
		memcpy(sa.sun_path + 1, env + 1, strlen(env) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(env));
	} else {
		snprintf(sock_dir, sizeof(sock_dir), "/tmp/test-common.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(sock_dir));
		snprintf(env, sizeof(env), "%s/n.sock", sock_dir);
		strcpy(sa.sun_path, env);
		len = sizeof(sa);
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	setenv("NOTIFY_SOCKET", env, 1);
	return fd;
}

static void unlisten_notify(int fd)
{
	close(fd);
	unsetenv("NOTIFY_SOCKET");
	if (sock_dir[0]) {
		char p[128];
		snprintf(p, sizeof(p), "%s/n.sock", sock_dir);
		unlink(p);
		rmdir(sock_dir);
		sock_dir[0] = '\0';
	}
}

/* The next message on fd, with its sender's pid; NULL if none comes
 * (within 10 s, or at once with dontwait). */
static const char *next_message(int fd, pid_t *ret_pid, bool dontwait)
{
	static char buf[1024];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cbuf;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &mh, dontwait ? MSG_DONTWAIT : 0);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	*ret_pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*ret_pid = uc.pid;
		}
	}
	return buf;
}

static void expect_message(int fd, const char *want)
{
	pid_t pid;
	const char *m = next_message(fd, &pid, false);
	ck_assert_msg(m != NULL, "no message, wanted %s", want);
	ck_assert_str_eq(m, want);
	ck_assert_int_eq(pid, getpid());
}

START_TEST(test_notify_path)
{
	int fd = listen_notify(false);
	mcs_notify_status("mounting %s with %d", "n1-0", 3);
	mcs_notify_ready(NULL);
	mcs_notify_ready("serving");
	mcs_notify_stopping();
	expect_message(fd, "STATUS=mounting n1-0 with 3");
	expect_message(fd, "READY=1");
	expect_message(fd, "READY=1\nSTATUS=serving");
	expect_message(fd, "STOPPING=1");
	pid_t pid;
	ck_assert_ptr_null(next_message(fd, &pid, true));
	unlisten_notify(fd);
}
END_TEST

START_TEST(test_notify_abstract)
{
	int fd = listen_notify(true);
	ck_assert_int_eq(getenv("NOTIFY_SOCKET")[0], '@');
	mcs_notify_ready(NULL);
	expect_message(fd, "READY=1");
	unlisten_notify(fd);
}
END_TEST

/* Without a socket nothing is sent; a socket that cannot be used is
 * logged at debug level and ignored. */
START_TEST(test_notify_unusable)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
	mcs_log_init("t", MCS_LOG_DEBUG);
	capture_start();
	mcs_notify_ready(NULL);
	setenv("NOTIFY_SOCKET", "", 1);
	mcs_notify_stopping();
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	mcs_notify_ready(NULL);
	setenv("NOTIFY_SOCKET", "/nonexistent/mcstore-test.sock", 1);
	mcs_notify_stopping();
	char longer[200];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[0] = '/';
	longer[sizeof(longer) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longer, 1);
	mcs_notify_stopping();
	unsetenv("NOTIFY_SOCKET");
	const char *out = capture_end();
	char want[1024];
	snprintf(want, sizeof(want),
		 "t[%d]: debug: cannot notify the service manager (READY=1): %s, ignoring\n"
		 "t[%d]: debug: cannot notify the service manager (STOPPING=1): %s, ignoring\n"
		 "t[%d]: debug: cannot notify the service manager (STOPPING=1): %s, ignoring\n",
		 (int)getpid(), strerrordesc_np(EAFNOSUPPORT), (int)getpid(), strerrordesc_np(ENOENT),
		 (int)getpid(), strerrordesc_np(EINVAL));
	ck_assert_str_eq(out, want);
}
END_TEST

/* mcs_notify_watchdog_usec() in a child with WATCHDOG_USEC=usec and
 * WATCHDOG_PID=pid (NULL: unset; "self": the child's pid): its value is
 * read once per process. */
static uint64_t watchdog_in_child(const char *usec, const char *pid)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		char self[32];
		if (usec)
			setenv("WATCHDOG_USEC", usec, 1);
		else
			unsetenv("WATCHDOG_USEC");
		if (pid && strcmp(pid, "self") == 0) {
			snprintf(self, sizeof(self), "%d", (int)getpid());
			pid = self;
		}
		if (pid)
			setenv("WATCHDOG_PID", pid, 1);
		else
			unsetenv("WATCHDOG_PID");
		uint64_t v = mcs_notify_watchdog_usec();
		_exit(write(p[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	close(p[1]);
	uint64_t v = 0;
	ck_assert_int_eq(read(p[0], &v, sizeof(v)), sizeof(v));
	close(p[0]);
	int st;
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return v;
}

START_TEST(test_watchdog_env)
{
	static const struct {
		const char *usec, *pid;
		uint64_t want;
	} cases[] = {
		{ NULL, NULL, 0 },
		{ "4000000", NULL, 4000000 },
		{ "4000000", "self", 4000000 },
		{ "4000000", "1", 0 },        /* another process's watchdog */
		{ "4000000", "x", 0 },        /* not a pid */
		{ "4000000", "", 0 },
		{ "0", NULL, 0 },             /* no interval */
		{ "", NULL, 0 },
		{ "4s", NULL, 0 },            /* microseconds, a number only */
		{ "-1", NULL, 0 },
		{ "18446744073709551615", NULL, 0 }, /* the service manager's infinity */
		{ "1", "self", 1 },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++)
		ck_assert_msg(watchdog_in_child(cases[i].usec, cases[i].pid) == cases[i].want, "WATCHDOG_USEC=%s WATCHDOG_PID=%s",
			      cases[i].usec ? cases[i].usec : "(unset)", cases[i].pid ? cases[i].pid : "(unset)");
}
END_TEST

/* At most one ping per half interval, however often it is called; none
 * when the watchdog is not this process's. In children: the interval is
 * read once per process. */
START_TEST(test_watchdog_pings)
{
	int fd = listen_notify(false);
	for (int mine = 1; mine >= 0; mine--) {
		pid_t c = fork();
		ck_assert_int_ge(c, 0);
		if (c == 0) {
			setenv("WATCHDOG_USEC", "600000000", 1); /* 10 minutes */
			if (!mine)
				setenv("WATCHDOG_PID", "1", 1);
			for (int i = 0; i < 100; i++)
				mcs_notify_watchdog();
			mcs_notify_stopping(); /* the end of the child's messages */
			_exit(0);
		}
		int st;
		ck_assert_int_eq(waitpid(c, &st, 0), c);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		pid_t pid;
		const char *m;
		if (mine) {
			m = next_message(fd, &pid, true);
			ck_assert_ptr_nonnull(m);
			ck_assert_str_eq(m, "WATCHDOG=1");
			ck_assert_int_eq(pid, c);
		}
		m = next_message(fd, &pid, true);
		ck_assert_ptr_nonnull(m);
		ck_assert_str_eq(m, "STOPPING=1");
		ck_assert_int_eq(pid, c);
	}
	unlisten_notify(fd);
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_hostport_ok);
	tcase_add_test(tc, test_hostport_bad);
	tcase_add_test(tc, test_master_addr_ok);
	tcase_add_test(tc, test_master_addr_bad);
	tcase_add_test(tc, test_size_ok);
	tcase_add_test(tc, test_size_why);
	tcase_add_test(tc, test_u64);
	tcase_add_test(tc, test_fmt_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("status");
	tcase_add_test(tc, test_strerror_words);
	tcase_add_test(tc, test_strerror_other);
	suite_add_tcase(s, tc);
	tc = tcase_create("opts");
	tcase_add_test(tc, test_opt_invalid);
	tcase_add_test(tc, test_opt_size);
	tcase_add_test(tc, test_opt_hostport);
	tcase_add_test(tc, test_conf_dir);
	suite_add_tcase(s, tc);
	tc = tcase_create("log");
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_lines);
	tcase_add_test(tc, test_log_journal);
	suite_add_tcase(s, tc);
	tc = tcase_create("net");
	tcase_add_test(tc, test_poll_fd);
	tcase_add_test(tc, test_ratelimit);
	tcase_add_test(tc, test_busy_estimate);
	tcase_add_test(tc, test_tcp);
	suite_add_tcase(s, tc);
	tc = tcase_create("notify");
	tcase_add_test(tc, test_notify_path);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_notify_unusable);
	tcase_add_test(tc, test_watchdog_env);
	tcase_add_test(tc, test_watchdog_pings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(common_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
