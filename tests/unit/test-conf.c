/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for configuration files and option handling (common/conf.c):
 * the file syntax and its error messages, then mcs_opt_parse() with a
 * small option table: the file under the command line, unknown keys, bad
 * values reported as FILE:LINE, flags, --config / --no-config; and the
 * value helpers the daemons share (ranges, ports, words, --log-level,
 * --help, --version).
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"

static struct mcs_conf *parse_ok(const char *text)
{
	struct mcs_conf *c = NULL;
	char err[256] = "";
	int r = mcs_conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err));
	ck_assert_msg(r == 0, "parse failed: %d %s", r, err);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* Parse text that must fail; returns the message. */
static const char *parse_err(const char *text, size_t len)
{
	static char err[256];
	struct mcs_conf *c = (struct mcs_conf *)0x1;
	err[0] = '\0';
	int r = mcs_conf_parse("t.conf", text, len, &c, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_eq(c, (struct mcs_conf *)0x1); /* untouched on failure */
	return err;
}

START_TEST(test_syntax)
{
	struct mcs_conf *c = parse_ok("# a comment\n"
				      "\n"
				      "   \t\n"
				      "port = 50051\n"
				      "  listen=127.0.0.1  \n"
				      "\tlease-ttl-ms\t=\t 200\t# trailing comment\n"
				      "   # indented comment = not a key\n"
				      "socket = /run/x#y.sock\n"
				      "crlf = yes\r\n"
				      "spaces = a b  c\n"
				      "last = no newline");
	ck_assert_uint_eq(c->n_entries, 7);
	const char *want[][2] = {
		{ "port", "50051" },
		{ "listen", "127.0.0.1" },
		{ "lease-ttl-ms", "200" },
		{ "socket", "/run/x#y.sock" },
		{ "crlf", "yes" },
		{ "spaces", "a b  c" },
		{ "last", "no newline" },
	};
	const unsigned lines[] = { 4, 5, 6, 8, 9, 10, 11 };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(want); i++) {
		ck_assert_str_eq(c->entries[i].key, want[i][0]);
		ck_assert_str_eq(c->entries[i].value, want[i][1]);
		ck_assert_uint_eq(c->entries[i].line, lines[i]);
	}
	ck_assert_str_eq(c->path, "t.conf");
	mcs_conf_free(c);

	c = parse_ok("");
	ck_assert_uint_eq(c->n_entries, 0);
	mcs_conf_free(c);
	c = parse_ok("# only comments\n\n#\n");
	ck_assert_uint_eq(c->n_entries, 0);
	mcs_conf_free(c);
	ck_assert_ptr_null(mcs_conf_free(NULL));
}
END_TEST

START_TEST(test_syntax_errors)
{
	ck_assert_str_eq(parse_err("port 50051\n", 11), "t.conf:1: expected 'key = value', got 'port 50051'");
	ck_assert_str_eq(parse_err("\n\n = 3\n", 7), "t.conf:3: missing key before '='");
	ck_assert_str_eq(parse_err("port =\n", 7), "t.conf:1: missing value for 'port'");
	ck_assert_str_eq(parse_err("port = # nothing\n", 17), "t.conf:1: missing value for 'port'");
	ck_assert_str_eq(parse_err("Port = 1\n", 9),
			 "t.conf:1: invalid key 'Port' (lower-case letters, digits and '-')");
	ck_assert_str_eq(parse_err("lease ttl = 1\n", 14),
			 "t.conf:1: invalid key 'lease ttl' (lower-case letters, digits and '-')");
	ck_assert_str_eq(parse_err("-port = 1\n", 10),
			 "t.conf:1: invalid key '-port' (lower-case letters, digits and '-')");
	ck_assert_str_eq(parse_err("lease_ttl_ms = 1\n", 17),
			 "t.conf:1: invalid key 'lease_ttl_ms' (lower-case letters, digits and '-')");
	ck_assert_str_eq(parse_err("port = 1\n# x\nport = 2\n", 22), "t.conf:3: 'port' already set on line 1");
	ck_assert_str_eq(parse_err("a = 1\nb = x\0y\n", 14), "t.conf:2: NUL byte in line");
}
END_TEST

START_TEST(test_too_large)
{
	size_t len = MCS_CONF_MAX_SIZE + 1;
	char *big = malloc(len);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', len);
	struct mcs_conf *c = NULL;
	char err[256];
	ck_assert_int_eq(mcs_conf_parse("big.conf", big, len, &c, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, "big.conf: larger than 1048576 bytes");
	/* exactly the limit is fine */
	ck_assert_int_eq(mcs_conf_parse("big.conf", big, len - 1, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c->n_entries, 0);
	mcs_conf_free(c);
	free(big);
}
END_TEST

START_TEST(test_many_entries)
{
	/* grows past the first allocation; every line number right */
	char *text = malloc(1000 * 32);
	size_t o = 0;
	for (int i = 0; i < 1000; i++)
		o += (size_t)sprintf(text + o, "k%d = v%d\n", i, i);
	struct mcs_conf *c = parse_ok(text);
	ck_assert_uint_eq(c->n_entries, 1000);
	for (int i = 0; i < 1000; i++) {
		char k[16], v[16];
		sprintf(k, "k%d", i);
		sprintf(v, "v%d", i);
		ck_assert_str_eq(c->entries[i].key, k);
		ck_assert_str_eq(c->entries[i].value, v);
		ck_assert_uint_eq(c->entries[i].line, (unsigned)i + 1);
	}
	mcs_conf_free(c);
	free(text);
}
END_TEST

static char tmpdir[64];

static char *write_file(const char *name, const char *text)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", tmpdir, name), 0);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test-conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_read)
{
	_cleanup_free_ char *p = write_file("a.conf", "x = 1\n");
	struct mcs_conf *c = NULL;
	char err[256];
	ck_assert_int_eq(mcs_conf_read(p, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c->n_entries, 1);
	ck_assert_str_eq(c->path, p);
	mcs_conf_free(c);

	_cleanup_free_ char *missing = NULL;
	ck_assert_int_ge(asprintf(&missing, "%s/none.conf", tmpdir), 0);
	c = NULL;
	ck_assert_int_eq(mcs_conf_read(missing, &c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_int_eq(mcs_conf_read(tmpdir, &c, err, sizeof(err)), -EISDIR);

	/* a pipe: read to the end whatever stat says */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "y = 2\n", 6), 6);
	close(fds[1]);
	char dev[64];
	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", fds[0]);
	ck_assert_int_eq(mcs_conf_read(dev, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c->entries[0].key, "y");
	mcs_conf_free(c);
	close(fds[0]);
}
END_TEST

START_TEST(test_bool)
{
	const char *yes[] = { "yes", "YES", "true", "on", "1", "True" }, *no[] = { "no", "false", "off", "0", "No" };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(yes); i++)
		ck_assert_int_eq(mcs_conf_parse_bool(yes[i]), 1);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(no); i++)
		ck_assert_int_eq(mcs_conf_parse_bool(no[i]), 0);
	const char *bad[] = { "", "y", "2", "yes ", "enabled" };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(mcs_conf_parse_bool(bad[i]), -EINVAL);
	ck_assert_int_eq(mcs_conf_parse_bool(NULL), -EINVAL);
}
END_TEST

/* A small program: --port N (1..100), --name S, --fast (flag), --mode[=X],
 * plus --config, --no-config, --help. */
enum { OPT_NAME = 256, OPT_FAST, OPT_MODE, OPT_CONFIG, OPT_NOCONFIG };
static const struct option longopts[] = {
	{ "port", required_argument, NULL, 'p' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "fast", no_argument, NULL, OPT_FAST },
	{ "mode", optional_argument, NULL, OPT_MODE },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-config", no_argument, NULL, OPT_NOCONFIG },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct prog {
	unsigned long port;
	const char *name;
	int fast;
	const char *mode;
	int helped;
	char log[1024]; /* every call: "name=arg@where;" */
};

static int set(const struct mcs_opt_ctx *ctx, int c, const char *arg, void *userdata)
{
	struct prog *p = userdata;
	size_t o = strlen(p->log);
	snprintf(p->log + o, sizeof(p->log) - o, "%s=%s@%s:%u;", ctx->name, arg ? arg : "(null)",
		 ctx->file ? "file" : "cli", ctx->line);
	ck_assert_int_eq(ctx->opt, c);
	switch (c) {
	case 'p': {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > 100)
			return mcs_opt_invalid(ctx, "1..100");
		p->port = v;
		break;
	}
	case OPT_NAME:
		p->name = arg;
		break;
	case OPT_FAST:
		ck_assert_ptr_null(arg);
		p->fast = 1;
		break;
	case OPT_MODE:
		if (arg && strcmp(arg, "a") && strcmp(arg, "b"))
			return mcs_opt_invalid(ctx, NULL);
		p->mode = arg ? arg : "default";
		break;
	case 'h':
		p->helped++;
		return 1;
	default:
		return mcs_opt_invalid(ctx, NULL);
	}
	return 0;
}

static char errbuf[4096];

/* Run mcs_opt_parse on the arguments (NULL-terminated) with default config
 * defconf; messages land in errbuf. */
static int run(struct prog *p, const char *defconf, struct mcs_conf **ret_conf, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	argv[argc++] = (char *)"prog";
	va_start(ap, ret_conf);
	const char *a;
	while ((a = va_arg(ap, const char *)))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	static const int early[] = { 'h', 0 };
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	ck_assert_ptr_nonnull(err);
	setvbuf(err, NULL, _IONBF, 0);
	memset(errbuf, 0, sizeof(errbuf));
	const struct mcs_opt_spec spec = {
		.prog = "prog",
		.shortopts = "p:h",
		.longopts = longopts,
		.default_config = defconf,
		.opt_config = OPT_CONFIG,
		.opt_no_config = OPT_NOCONFIG,
		.early = early,
		.set = set,
		.userdata = p,
		.err = err,
	};
	int r = mcs_opt_parse(&spec, argc, argv, ret_conf);
	fclose(err);
	return r;
}

START_TEST(test_opts_cli_only)
{
	struct prog p = { 0 };
	struct mcs_conf *conf = (struct mcs_conf *)0x1;
	ck_assert_int_eq(run(&p, NULL, &conf, "-p", "7", "--name", "x", "--fast", "--mode", NULL), 0);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(p.port, 7);
	ck_assert_str_eq(p.name, "x");
	ck_assert_int_eq(p.fast, 1);
	ck_assert_str_eq(p.mode, "default");
	ck_assert_str_eq(p.log, "port=7@cli:0;name=x@cli:0;fast=(null)@cli:0;mode=(null)@cli:0;");
	ck_assert_str_eq(errbuf, "");
}
END_TEST

START_TEST(test_opts_file_then_cli)
{
	_cleanup_free_ char *path = write_file("p.conf", "# defaults\nport = 5\nname = from-file\nfast = yes\nmode = b\n");
	struct prog p = { 0 };
	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	ck_assert_int_eq(run(&p, NULL, &conf, "--port=9", "--config", path, NULL), 0);
	ck_assert_ptr_nonnull(conf);
	/* the file first, in order, then the command line: the command line wins */
	ck_assert_str_eq(p.log, "port=5@file:2;name=from-file@file:3;fast=(null)@file:4;mode=b@file:5;port=9@cli:0;");
	ck_assert_uint_eq(p.port, 9);
	ck_assert_str_eq(p.name, "from-file"); /* points into conf, alive until it is freed */
	ck_assert_str_eq(p.mode, "b");
	ck_assert_int_eq(p.fast, 1);
}
END_TEST

START_TEST(test_opts_flag_no)
{
	_cleanup_free_ char *path = write_file("f.conf", "fast = no\n");
	struct prog p = { 0 };
	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	ck_assert_int_eq(run(&p, NULL, &conf, "--config", path, NULL), 0);
	ck_assert_int_eq(p.fast, 0);
	ck_assert_str_eq(p.log, "");

	_cleanup_free_ char *bad = write_file("g.conf", "\nfast = maybe\n");
	struct prog q = { 0 };
	struct mcs_conf *c2 = (struct mcs_conf *)0x1;
	ck_assert_int_eq(run(&q, NULL, &c2, "--config", bad, NULL), -EINVAL);
	ck_assert_ptr_eq(c2, (struct mcs_conf *)0x1);
	char want[256];
	snprintf(want, sizeof(want), "%s:2: invalid fast 'maybe' (yes or no)\n", bad);
	ck_assert_str_eq(errbuf, want);
}
END_TEST

START_TEST(test_opts_errors_in_file)
{
	struct {
		const char *text, *msg;
	} cases[] = {
		{ "port = 5\nbogus = 1\n", ":2: unknown key 'bogus'\n" },
		{ "port = 500\n", ":1: invalid port '500' (1..100)\n" },
		{ "\n\nmode = c\n", ":3: invalid mode 'c'\n" },
		{ "help = yes\n", ":1: unknown key 'help' (a command-line option only)\n" },
		{ "config = /etc/x\n", ":1: unknown key 'config' (a command-line option only)\n" },
		{ "no-config = yes\n", ":1: unknown key 'no-config' (a command-line option only)\n" },
		{ "port 5\n", ":1: expected 'key = value', got 'port 5'\n" },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *path = write_file("e.conf", cases[i].text);
		struct prog p = { 0 };
		struct mcs_conf *conf = (struct mcs_conf *)0x1;
		ck_assert_int_eq(run(&p, NULL, &conf, "--config", path, NULL), -EINVAL);
		ck_assert_ptr_eq(conf, (struct mcs_conf *)0x1);
		char want[512];
		snprintf(want, sizeof(want), "%s%s", path, cases[i].msg);
		ck_assert_str_eq(errbuf, want);
	}
}
END_TEST

START_TEST(test_opts_errors_on_cli)
{
	struct prog p = { 0 };
	struct mcs_conf *conf = NULL;
	ck_assert_int_eq(run(&p, NULL, &conf, "-p", "0", NULL), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --port '0' (1..100)\n");
	ck_assert_int_eq(run(&p, NULL, &conf, "--mode=zz", NULL), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --mode 'zz'\n");
	ck_assert_int_eq(run(&p, NULL, &conf, "stray", NULL), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: unexpected argument 'stray'\n");
	ck_assert_int_eq(run(&p, NULL, &conf, "--config", "/x", "--no-config", NULL), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: --config and --no-config exclude each other\n");
	/* getopt's own complaints go to stderr; the result is what matters */
	ck_assert_int_eq(run(&p, NULL, &conf, "--bogus", NULL), -EINVAL);
	ck_assert_int_eq(run(&p, NULL, &conf, "--port", NULL), -EINVAL);
	ck_assert_int_eq(run(&p, NULL, &conf, "--fast=1", NULL), -EINVAL);
}
END_TEST

START_TEST(test_opts_default_config)
{
	/* a missing default file is fine, a missing --config file is not */
	_cleanup_free_ char *missing = NULL;
	ck_assert_int_ge(asprintf(&missing, "%s/none.conf", tmpdir), 0);
	struct prog p = { 0 };
	struct mcs_conf *conf = (struct mcs_conf *)0x1;
	ck_assert_int_eq(run(&p, missing, &conf, "-p", "3", NULL), 0);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(p.port, 3);
	ck_assert_int_eq(run(&p, NULL, &conf, "--config", missing, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errbuf, "cannot open"));
	ck_assert_ptr_nonnull(strstr(errbuf, missing));

	/* an existing default file is read; --no-config skips it, --config replaces it */
	_cleanup_free_ char *def = write_file("def.conf", "port = 42\n");
	_cleanup_free_ char *other = write_file("other.conf", "name = other\n");
	struct prog a = { 0 }, b = { 0 }, c = { 0 };
	ck_assert_int_eq(run(&a, def, &conf, NULL), 0);
	ck_assert_uint_eq(a.port, 42);
	conf = mcs_conf_free(conf);
	ck_assert_int_eq(run(&b, def, &conf, "--no-config", NULL), 0);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(b.port, 0);
	ck_assert_int_eq(run(&c, def, &conf, "--config", other, NULL), 0);
	ck_assert_uint_eq(c.port, 0);
	ck_assert_str_eq(c.name, "other");
	conf = mcs_conf_free(conf);

	/* a default file that exists but is broken is an error */
	_cleanup_free_ char *broken = write_file("broken.conf", "port = 1000\n");
	struct prog d = { 0 };
	ck_assert_int_eq(run(&d, broken, &conf, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errbuf, ":1: invalid port '1000' (1..100)"));
}
END_TEST

START_TEST(test_opts_early)
{
	/* --help is handled before any file: a broken default file does not
	 * stop it, and nothing else is applied */
	_cleanup_free_ char *broken = write_file("broken.conf", "garbage\n");
	struct prog p = { 0 };
	struct mcs_conf *conf = (struct mcs_conf *)0x1;
	ck_assert_int_eq(run(&p, broken, &conf, "-p", "5", "--help", NULL), 1);
	ck_assert_ptr_null(conf);
	ck_assert_int_eq(p.helped, 1);
	ck_assert_uint_eq(p.port, 0);
	ck_assert_str_eq(p.log, "help=(null)@cli:0;");
}
END_TEST

/* The value helpers the daemons' setters share, and what they say. */
static int usage_calls;
static void count_usage(FILE *f) { usage_calls += f == stdout; }

static FILE *helper_err;
static const struct mcs_opt_spec helper_spec = { .prog = "prog", .usage = count_usage };

/* A context for --NAME ARG on the command line (file: NULL), or in file
 * at line 3; messages land in errbuf, emptied first. */
static struct mcs_opt_ctx helper_ctx(const char *name, const char *arg, const char *file)
{
	static struct mcs_opt_spec spec;
	spec = helper_spec;
	spec.err = helper_err;
	rewind(helper_err);
	memset(errbuf, 0, sizeof(errbuf));
	return (struct mcs_opt_ctx){ .spec = &spec, .name = name, .arg = arg, .file = file, .line = file ? 3 : 0 };
}

START_TEST(test_opts_helpers)
{
	helper_err = fmemopen(errbuf, sizeof(errbuf), "w");
	ck_assert_ptr_nonnull(helper_err);
	setvbuf(helper_err, NULL, _IONBF, 0);
	struct mcs_opt_ctx c;
	uint64_t v = 7;

	/* a range, inclusive at both ends; the value is untouched on failure */
	c = helper_ctx("n", "1", NULL);
	ck_assert_int_eq(mcs_opt_u64(&c, "1", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 1);
	c = helper_ctx("n", "100", NULL);
	ck_assert_int_eq(mcs_opt_u64(&c, "100", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 100);
	const char *bad[] = { "0", "101", "x", "", "-1", "1k", "99999999999999999999999" };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(bad); i++) {
		c = helper_ctx("n", bad[i], NULL);
		ck_assert_int_eq(mcs_opt_u64(&c, bad[i], 1, 100, &v), -EINVAL);
		char want[128];
		snprintf(want, sizeof(want), "prog: invalid --n '%s' (1..100)\n", bad[i]);
		ck_assert_str_eq(errbuf, want);
		ck_assert_uint_eq(v, 100);
	}
	c = helper_ctx("n", "0", "f.conf");
	ck_assert_int_eq(mcs_opt_u64(&c, "0", 10, 3600000, &v), -EINVAL);
	ck_assert_str_eq(errbuf, "f.conf:3: invalid n '0' (10..3600000)\n");
	/* the whole u64: no range to give */
	c = helper_ctx("seed", "18446744073709551615", NULL);
	ck_assert_int_eq(mcs_opt_u64(&c, "18446744073709551615", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	c = helper_ctx("seed", "18446744073709551616", NULL);
	ck_assert_int_eq(mcs_opt_u64(&c, "18446744073709551616", 0, UINT64_MAX, &v), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --seed '18446744073709551616'\n");

	uint16_t port = 9;
	c = helper_ctx("port", "65535", NULL);
	ck_assert_int_eq(mcs_opt_port(&c, "65535", &port), 0);
	ck_assert_uint_eq(port, 65535);
	c = helper_ctx("port", "0", NULL);
	ck_assert_int_eq(mcs_opt_port(&c, "0", &port), 0);
	ck_assert_uint_eq(port, 0);
	c = helper_ctx("port", "65536", NULL);
	ck_assert_int_eq(mcs_opt_port(&c, "65536", &port), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --port '65536' (0..65535)\n");
	ck_assert_uint_eq(port, 0);

	/* a word: its index, or the list of words */
	const char *const three[] = { "auto", "on", "off", NULL }, *const two[] = { "load", "random", NULL };
	const char *const one[] = { "only", NULL };
	c = helper_ctx("m", "off", NULL);
	ck_assert_int_eq(mcs_opt_choice(&c, "off", three), 2);
	ck_assert_int_eq(mcs_opt_choice(&c, "auto", three), 0);
	ck_assert_str_eq(errbuf, "");
	c = helper_ctx("m", "Off", NULL);
	ck_assert_int_eq(mcs_opt_choice(&c, "Off", three), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --m 'Off' (auto, on or off)\n");
	c = helper_ctx("m", "lo", NULL);
	ck_assert_int_eq(mcs_opt_choice(&c, "lo", two), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --m 'lo' (load or random)\n");
	c = helper_ctx("m", "x", NULL);
	ck_assert_int_eq(mcs_opt_choice(&c, "x", one), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --m 'x' (only)\n");

	/* --log-level, --help, --version, by name; anything else is refused */
	int level = mcs_log_level();
	c = helper_ctx("log-level", "debug", NULL);
	ck_assert_int_eq(mcs_opt_common(&c, "debug"), 0);
	ck_assert_int_eq(mcs_log_level(), MCS_LOG_DEBUG);
	c = helper_ctx("log-level", "loud", NULL);
	ck_assert_int_eq(mcs_opt_common(&c, "loud"), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --log-level 'loud' (error, warning, notice, info or debug)\n");
	ck_assert_int_eq(mcs_log_level(), MCS_LOG_DEBUG);
	mcs_log_set_level(level);
	usage_calls = 0;
	c = helper_ctx("help", NULL, NULL);
	ck_assert_int_eq(mcs_opt_common(&c, NULL), 1);
	ck_assert_int_eq(usage_calls, 1);
	c = helper_ctx("version", NULL, NULL);
	ck_assert_int_eq(mcs_opt_common(&c, NULL), 1);
	ck_assert_int_eq(usage_calls, 1);
	ck_assert_str_eq(errbuf, "");
	c = helper_ctx("other", "x", NULL);
	ck_assert_int_eq(mcs_opt_common(&c, "x"), -EINVAL);
	ck_assert_str_eq(errbuf, "prog: invalid --other 'x'\n");
	fclose(helper_err);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("file");
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_many_entries);
	tcase_add_test(tc, test_bool);
	suite_add_tcase(s, tc);
	tc = tcase_create("opts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read);
	tcase_add_test(tc, test_opts_cli_only);
	tcase_add_test(tc, test_opts_file_then_cli);
	tcase_add_test(tc, test_opts_flag_no);
	tcase_add_test(tc, test_opts_errors_in_file);
	tcase_add_test(tc, test_opts_errors_on_cli);
	tcase_add_test(tc, test_opts_default_config);
	tcase_add_test(tc, test_opts_early);
	tcase_add_test(tc, test_opts_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
