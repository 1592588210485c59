/* SPDX-License-Identifier: MIT */
/*
 * Configuration files and command-line options (see conf.h for the
 * format). The file is parsed in one piece, in place: each entry's key
 * and value point into a private copy of the text.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/endpoints.h"
#include "common/log.h"
#include "common/util.h"

static int errf(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		vsnprintf(err, errlen, fmt, ap);
#pragma GCC diagnostic pop
		va_end(ap);
	}
	return r;
}

struct mcs_conf *mcs_conf_free(struct mcs_conf *c)
{
	if (c) {
		free(c->path);
		free(c->text);
		free(c->entries);
		free(c);
	}
	return NULL;
}

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v'; }

static char *trim(char *s, char *end)
{
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

static bool valid_key(const char *k)
{
	if (!(islower((unsigned char)*k) || isdigit((unsigned char)*k)))
		return false;
	for (; *k; k++)
		if (!(islower((unsigned char)*k) || isdigit((unsigned char)*k) || *k == '-'))
			return false;
	return true;
}

int mcs_conf_parse(const char *path, const char *text, size_t len, struct mcs_conf **ret, char *err, size_t errlen)
{
	if (!path || (!text && len) || !ret)
		return -EINVAL;
	if (len > MCS_CONF_MAX_SIZE)
		return errf(err, errlen, -EFBIG, "%s: larger than %u bytes", path, MCS_CONF_MAX_SIZE);

	struct mcs_conf *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path)) || !(c->text = malloc(len + 1))) {
		mcs_conf_free(c);
		return errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	if (len)
		memcpy(c->text, text, len);
	c->text[len] = '\0';

	size_t cap = 0;
	unsigned lineno = 0;
	int r = 0;
	char *p = c->text, *end = c->text + len;
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		char *next = eol ? eol + 1 : end;
		if (!eol)
			eol = end;
		lineno++;
		if (memchr(p, '\0', (size_t)(eol - p))) {
			r = errf(err, errlen, -EINVAL, "%s:%u: NUL byte in line", path, lineno);
			break;
		}
		/* a comment: '#' at the start of the line or after whitespace */
		for (char *h = p; h < eol; h++)
			if (*h == '#' && (h == p || is_blank(h[-1]))) {
				eol = h;
				break;
			}
		char *line = trim(p, eol);
		p = next;
		if (!*line)
			continue;

		char *eq = strchr(line, '=');
		if (!eq) {
			r = errf(err, errlen, -EINVAL, "%s:%u: expected 'key = value', got '%s'", path, lineno, line);
			break;
		}
		char *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
		char *key = trim(line, eq);
		if (!*key) {
			r = errf(err, errlen, -EINVAL, "%s:%u: missing key before '='", path, lineno);
			break;
		}
		if (!valid_key(key)) {
			r = errf(err, errlen, -EINVAL,
				 "%s:%u: invalid key '%s' (lower-case letters, digits and '-')", path, lineno, key);
			break;
		}
		if (!*value) {
			r = errf(err, errlen, -EINVAL, "%s:%u: missing value for '%s'", path, lineno, key);
			break;
		}
		for (size_t i = 0; i < c->n_entries; i++)
			if (strcmp(c->entries[i].key, key) == 0) {
				r = errf(err, errlen, -EINVAL, "%s:%u: '%s' already set on line %u", path, lineno, key,
					 c->entries[i].line);
				break;
			}
		if (r < 0)
			break;
		if (c->n_entries == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct mcs_conf_entry *e = realloc(c->entries, ncap * sizeof(*e));
			if (!e) {
				r = errf(err, errlen, -ENOMEM, "%s: out of memory", path);
				break;
			}
			c->entries = e;
			cap = ncap;
		}
		c->entries[c->n_entries++] = (struct mcs_conf_entry){ .key = key, .value = value, .line = lineno };
	}
	if (r < 0) {
		mcs_conf_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int mcs_conf_read(const char *path, struct mcs_conf **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errf(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return errf(err, errlen, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return errf(err, errlen, -EISDIR, "cannot read %s: %s", path, strerror(EISDIR));

	/* read to EOF, whatever st_size says (a pipe, /dev/stdin) */
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			if (cap > MCS_CONF_MAX_SIZE)
				return errf(err, errlen, -EFBIG, "%s: larger than %u bytes", path, MCS_CONF_MAX_SIZE);
			size_t ncap = cap ? cap * 2 : 4096;
			char *b = realloc(buf, ncap);
			if (!b)
				return errf(err, errlen, -ENOMEM, "%s: out of memory", path);
			buf = b;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errf(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return mcs_conf_parse(path, buf, len, ret, err, errlen);
}

const char *mcs_conf_dir(void) { return MCS_CONFDIR; }

int mcs_conf_parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < MCS_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

static FILE *err_stream(const struct mcs_opt_spec *spec) { return spec->err ? spec->err : stderr; }

int mcs_opt_invalid(const struct mcs_opt_ctx *ctx, const char *why)
{
	FILE *f = err_stream(ctx->spec);
	if (ctx->file)
		fprintf(f, "%s:%u: invalid %s", ctx->file, ctx->line, ctx->name);
	else
		fprintf(f, "%s: invalid --%s", ctx->spec->prog, ctx->name);
	if (ctx->arg)
		fprintf(f, " '%s'", ctx->arg);
	if (why)
		fprintf(f, " (%s)", why);
	fputc('\n', f);
	return -EINVAL;
}

int mcs_opt_size(const struct mcs_opt_ctx *ctx, const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *why = NULL;
	char lim[64], a[32];
	uint64_t v;
	if (mcs_parse_size_why(arg, &v, &why) < 0)
		return mcs_opt_invalid(ctx, why);
	if (v < min) {
		snprintf(lim, sizeof(lim), "at least %s", mcs_fmt_size(min, a, sizeof(a)));
		return mcs_opt_invalid(ctx, lim);
	}
	if (v > max) {
		snprintf(lim, sizeof(lim), "at most %s", mcs_fmt_size(max, a, sizeof(a)));
		return mcs_opt_invalid(ctx, lim);
	}
	*ret = v;
	return 0;
}

int mcs_opt_hostport(const struct mcs_opt_ctx *ctx, const char *arg)
{
	const char *why = mcs_hostport_why(arg);
	return why ? mcs_opt_invalid(ctx, why) : 0;
}

int mcs_opt_u64(const struct mcs_opt_ctx *ctx, const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	char range[48];
	uint64_t v;
	if (mcs_parse_u64(arg, max, &v) == 0 && v >= min) {
		*ret = v;
		return 0;
	}
	if (min == 0 && max == UINT64_MAX)
		return mcs_opt_invalid(ctx, NULL);
	snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)min, (unsigned long long)max);
	return mcs_opt_invalid(ctx, range);
}

int mcs_opt_port(const struct mcs_opt_ctx *ctx, const char *arg, uint16_t *ret)
{
	uint64_t v = 0;
	int r = mcs_opt_u64(ctx, arg, 0, 65535, &v);
	if (r == 0)
		*ret = (uint16_t)v;
	return r;
}

int mcs_opt_choice(const struct mcs_opt_ctx *ctx, const char *arg, const char *const *names)
{
	char why[256];
	size_t n = 0, len = 0;
	for (; names[n]; n++)
		if (arg && strcmp(arg, names[n]) == 0)
			return (int)n;
	why[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(why); i++)
		len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
					names[i]);
	return mcs_opt_invalid(ctx, why);
}

int mcs_opt_common(const struct mcs_opt_ctx *ctx, const char *arg)
{
	int r;
	if (strcmp(ctx->name, "log-level") == 0) {
		if ((r = mcs_log_parse_level(arg)) < 0)
			return mcs_opt_invalid(ctx, "error, warning, notice, info or debug");
		mcs_log_set_level(r);
		return 0;
	}
	if (strcmp(ctx->name, "help") == 0) {
		if (ctx->spec->usage)
			ctx->spec->usage(stdout);
		return 1;
	}
	if (strcmp(ctx->name, "version") == 0) {
		printf("%s %s\n", ctx->spec->prog, PACKAGE_VERSION);
		return 1;
	}
	return mcs_opt_invalid(ctx, NULL);
}

static const struct option *find_val(const struct option *o, int val)
{
	for (; o->name; o++)
		if (!o->flag && o->val == val)
			return o;
	return NULL;
}

static const struct option *find_name(const struct option *o, const char *name)
{
	for (; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static bool is_early(const struct mcs_opt_spec *spec, int val)
{
	for (const int *e = spec->early; e && *e; e++)
		if (*e == val)
			return true;
	return false;
}

/* Options that only make sense on the command line. */
static bool cli_only(const struct mcs_opt_spec *spec, int val)
{
	return val == spec->opt_config || val == spec->opt_no_config || is_early(spec, val);
}

/* Options a configuration file cannot set. */
static bool not_key(const struct mcs_opt_spec *spec, int val)
{
	for (const int *e = spec->not_keys; e && *e; e++)
		if (*e == val)
			return true;
	return cli_only(spec, val);
}

static int apply(const struct mcs_opt_spec *spec, int val, const char *arg, const char *file, unsigned line)
{
	const struct option *o = find_val(spec->longopts, val);
	struct mcs_opt_ctx ctx = {
		.spec = spec, .opt = val, .name = o ? o->name : "?", .arg = arg, .file = file, .line = line,
	};
	return spec->set(&ctx, val, arg, spec->userdata);
}

static int apply_file(const struct mcs_opt_spec *spec, const struct mcs_conf *c)
{
	FILE *f = err_stream(spec);
	for (size_t i = 0; i < c->n_entries; i++) {
		const struct mcs_conf_entry *e = &c->entries[i];
		const struct option *o = find_name(spec->longopts, e->key);
		if (!o || o->flag || not_key(spec, o->val)) {
			fprintf(f, "%s:%u: unknown key '%s'%s\n", c->path, e->line, e->key,
				o ? " (a command-line option only)" : "");
			return -EINVAL;
		}
		const char *arg = e->value;
		if (o->has_arg == no_argument) {
			/* a flag: "yes" sets it, "no" leaves the default */
			int b = mcs_conf_parse_bool(e->value);
			if (b < 0) {
				fprintf(f, "%s:%u: invalid %s '%s' (yes or no)\n", c->path, e->line, e->key, e->value);
				return -EINVAL;
			}
			if (!b)
				continue;
			arg = NULL;
		}
		int r = apply(spec, o->val, arg, c->path, e->line);
		if (r != 0)
			return r < 0 ? r : -EINVAL; /* stopping is for the command line */
	}
	return 0;
}

int mcs_opt_parse(const struct mcs_opt_spec *spec, int argc, char **argv, struct mcs_conf **ret_conf)
{
	FILE *f = err_stream(spec);
	const char *conf_path = NULL;
	char defpath[4096];
	bool conf_given = false, no_conf = false;
	int c, r;

	if (spec->default_config) {
		conf_path = spec->default_config;
		if (conf_path[0] != '/') {
			snprintf(defpath, sizeof(defpath), "%s/%s", mcs_conf_dir(), spec->default_config);
			conf_path = defpath;
		}
	}

	/* pass 1: usage errors, early options, which file */
	optind = 0; /* GNU getopt: start afresh */
	opterr = 1;
	while ((c = getopt_long(argc, argv, spec->shortopts, spec->longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (spec->usage)
				spec->usage(f);
			return -EINVAL;
		}
		if (c == spec->opt_config) {
			conf_path = optarg;
			conf_given = true;
		} else if (c == spec->opt_no_config)
			no_conf = true;
		else if (is_early(spec, c) && (r = apply(spec, c, optarg, NULL, 0)) != 0) {
			if (r > 0)
				*ret_conf = NULL;
			return r > 0 ? 1 : r;
		}
	}
	if (optind < argc) {
		fprintf(f, "%s: unexpected argument '%s'\n", spec->prog, argv[optind]);
		if (spec->usage)
			spec->usage(f);
		return -EINVAL;
	}
	if (conf_given && no_conf) {
		fprintf(f, "%s: --config and --no-config exclude each other\n", spec->prog);
		return -EINVAL;
	}

	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	if (conf_path && !no_conf) {
		char err[512];
		r = mcs_conf_read(conf_path, &conf, err, sizeof(err));
		if (r == -ENOENT && !conf_given)
			r = 0; /* the default file is optional */
		else if (r < 0) {
			fprintf(f, "%s\n", err);
			return -EINVAL;
		}
		if (conf && (r = apply_file(spec, conf)) < 0)
			return r;
	}

	/* pass 2: the command line wins */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, spec->shortopts, spec->longopts, NULL)) != -1) {
		if (cli_only(spec, c))
			continue;
		if ((r = apply(spec, c, optarg, NULL, 0)) != 0)
			return r < 0 ? r : -EINVAL;
	}
	*ret_conf = TAKE_PTR(conf);
	return 0;
}
