/* SPDX-License-Identifier: MIT */
/*
 * Configuration files and command-line options of the daemons.
 *
 * A configuration file is a list of "key = value" lines; '#' starts a
 * comment (at the start of a line, or after whitespace), blank lines are
 * ignored, whitespace around keys and values is trimmed. The keys are the
 * program's long option names, and a value goes through the same check as
 * on the command line. Options on the command line win over the file.
 * Unknown keys, repeated keys and bad values are errors reported as
 * "FILE:LINE: reason", so a daemon never starts on a configuration it
 * half understood.
 */
#ifndef MCS_CONF_H
#define MCS_CONF_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mcs_conf_entry {
	const char *key;
	const char *value;
	unsigned line;
};

struct mcs_conf {
	char *path;
	char *text;                     /* the file; entries point into it */
	struct mcs_conf_entry *entries; /* in file order */
	size_t n_entries;
};

#define MCS_CONF_MAX_SIZE (1u << 20)

/* Parse len bytes of text read from path (used in messages only). On a
 * syntax error returns -EINVAL with "PATH:LINE: reason" in err. */
int mcs_conf_parse(const char *path, const char *text, size_t len, struct mcs_conf **ret, char *err,
		   size_t errlen);
/* Read and parse a file. -ENOENT (and the like) when it cannot be opened,
 * -EINVAL on syntax errors; err always says why. */
int mcs_conf_read(const char *path, struct mcs_conf **ret, char *err, size_t errlen);
/* NULL ok, returns NULL. */
struct mcs_conf *mcs_conf_free(struct mcs_conf *c);
static inline void mcs_conf_freep(struct mcs_conf **c) { mcs_conf_free(*c); }

/* Where the daemons' files are: $(sysconfdir)/mcstore. */
const char *mcs_conf_dir(void);

/* yes/no, true/false, on/off, 1/0: 1 or 0; -EINVAL otherwise. */
int mcs_conf_parse_bool(const char *s);

/* Where an option value came from, for the setter's error messages. */
struct mcs_opt_ctx {
	const struct mcs_opt_spec *spec;
	int opt;          /* the option's val */
	const char *name; /* its long name */
	const char *arg;  /* its value, NULL for a flag without one */
	const char *file; /* NULL: the command line */
	unsigned line;
};

/* Apply one option. 0 to go on, 1 to stop with success (--help,
 * --version), or the result of mcs_opt_invalid(). */
typedef int (*mcs_opt_fn)(const struct mcs_opt_ctx *ctx, int opt, const char *arg, void *userdata);

struct mcs_opt_spec {
	const char *prog;
	const char *shortopts;
	const struct option *longopts;
	const char *default_config; /* read when it exists: a file name in
				     * mcs_conf_dir(), or an absolute path;
				     * NULL: none */
	int opt_config;             /* val of --config FILE */
	int opt_no_config;          /* val of --no-config */
	const int *early;           /* vals applied before the config file is read,
				     * 0-terminated (--help, --version); never keys */
	const int *not_keys;        /* vals of options that are never keys
				     * either (an fd inherited from the caller),
				     * 0-terminated */
	mcs_opt_fn set;
	void (*usage)(FILE *f);
	void *userdata;
	FILE *err;                  /* where messages go; NULL: stderr */
};

/* Print "invalid --NAME 'ARG' (why)" (command line) or
 * "FILE:LINE: invalid NAME 'ARG' (why)" (config file); why may be NULL.
 * Returns -EINVAL. */
int mcs_opt_invalid(const struct mcs_opt_ctx *ctx, const char *why);

/* A size option (K, M, G, T suffixes) between min and max: 0, or the
 * result of mcs_opt_invalid() with the reason (not a number, not a whole
 * number, an unknown suffix, too large, out of range). */
int mcs_opt_size(const struct mcs_opt_ctx *ctx, const char *arg, uint64_t min, uint64_t max, uint64_t *ret);
/* A HOST:PORT option: 0, or the result of mcs_opt_invalid() saying what
 * is missing. */
int mcs_opt_hostport(const struct mcs_opt_ctx *ctx, const char *arg);
/* A decimal option between min and max: 0 with *ret set, or the result
 * of mcs_opt_invalid() giving the range ("MIN..MAX"; no reason when any
 * u64 goes). */
int mcs_opt_u64(const struct mcs_opt_ctx *ctx, const char *arg, uint64_t min, uint64_t max, uint64_t *ret);
/* A TCP port, 0..65535 (0: any free one). */
int mcs_opt_port(const struct mcs_opt_ctx *ctx, const char *arg, uint16_t *ret);
/* One of the words in names (NULL-terminated): its index, or the result
 * of mcs_opt_invalid() listing them ("a, b or c"). */
int mcs_opt_choice(const struct mcs_opt_ctx *ctx, const char *arg, const char *const *names);
/* The options every daemon has, known by their long names: --log-level
 * LEVEL sets the log level (0), --help prints spec->usage and --version
 * "PROG VERSION" on stdout (1: stop). Any other option is refused as
 * mcs_opt_invalid(ctx, NULL) does, so a setter ends with
 * "default: return mcs_opt_common(ctx, arg);". */
int mcs_opt_common(const struct mcs_opt_ctx *ctx, const char *arg);

/* The command line, with the configuration file under it: early options,
 * then the file (--config FILE, else spec->default_config if it exists,
 * none with --no-config), then the rest of the command line. 0 when the
 * program should go on, 1 when an early option asked to stop (exit 0),
 * -EINVAL after printing why (exit 2). On 0 or 1, *ret_conf gets the
 * file read (NULL if none): string values handed to spec->set point into
 * it, so free it only once the options are no longer used. */
int mcs_opt_parse(const struct mcs_opt_spec *spec, int argc, char **argv, struct mcs_conf **ret_conf);

#endif
