/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the configuration file parser (common/conf.c). The input is
 * a file's text. Beyond "no crash, no leak": a refusal says why (an error
 * message naming the file) and gives no configuration; an accepted file
 * gives entries in line order, each key valid (lower-case letters, digits
 * and '-') and set once, each value non-empty without blanks around it,
 * both pointing into the copy of the text the configuration keeps.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"

const char fuzz_target_name[] = "conf";

int LLVMFuzzerInitialize(int *argc, char ***argv) { return 0; }

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcs_conf *c = (struct mcs_conf *)(uintptr_t)1;
	char err[256] = "";
	int r = mcs_conf_parse("fuzz.conf", (const char *)data, size, &c, err, sizeof(err));
	if (r < 0) {
		FUZZ_ASSERT(r == -EINVAL || r == -EFBIG);
		FUZZ_ASSERT(strncmp(err, "fuzz.conf", 9) == 0);
		return 0;
	}
	FUZZ_ASSERT(r == 0 && c);
	size_t len = strlen(c->text);
	FUZZ_ASSERT(len <= size);
	unsigned last = 0;
	for (size_t i = 0; i < c->n_entries; i++) {
		const struct mcs_conf_entry *e = &c->entries[i];
		FUZZ_ASSERT(e->line > last);
		last = e->line;
		FUZZ_ASSERT(e->key >= c->text && e->key < c->text + size + 1);
		FUZZ_ASSERT(e->value >= c->text && e->value < c->text + size + 1);
		FUZZ_ASSERT(*e->key && *e->value);
		for (const char *k = e->key; *k; k++)
			FUZZ_ASSERT((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-');
		size_t vl = strlen(e->value);
		FUZZ_ASSERT(!blank(e->value[0]) && !blank(e->value[vl - 1]));
		FUZZ_ASSERT(!strchr(e->value, '\n'));
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(c->entries[j].key, e->key) != 0);
		int b = mcs_conf_parse_bool(e->value);
		FUZZ_ASSERT(b == 0 || b == 1 || b == -EINVAL);
	}
	mcs_conf_free(c);
	return 0;
}
