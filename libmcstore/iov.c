/* SPDX-License-Identifier: MIT */
/*
 * The checks of keys, and of the replica lists the master answers with
 * (before this process touches the memory they name); walking a value over
 * the caller's iovecs and a replica over its buffers in the mapped segment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "libmcstore/internal.h"
#include "xfer/xfer.h"

size_t cursor_take(struct cursor *cu, size_t max, uint8_t **ret)
{
	while (cu->i < cu->n && cu->off == cu->iov[cu->i].iov_len) {
		cu->i++;
		cu->off = 0;
	}
	if (cu->i >= cu->n)
		return 0;
	size_t n = MCS_MIN(max, cu->iov[cu->i].iov_len - cu->off);
	*ret = (uint8_t *)cu->iov[cu->i].iov_base + cu->off;
	cu->off += n;
	return n;
}

int iov_total(const struct iovec *iov, int n, uint64_t *ret)
{
	if (n < 0 || (n > 0 && !iov))
		return -EINVAL;
	uint64_t t = 0;
	for (int i = 0; i < n; i++) {
		if ((iov[i].iov_len && !iov[i].iov_base) || t + iov[i].iov_len < t)
			return -EINVAL;
		t += iov[i].iov_len;
	}
	*ret = t;
	return 0;
}

bool is_local(const struct mcs_client *c, const struct mcs_replica *rep)
{
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		if (hd->segment.len != strlen(c->segment) || memcmp(hd->segment.p, c->segment, hd->segment.len) ||
		    hd->incarnation != c->incarnation)
			return false;
	}
	return true;
}

uint64_t replica_bytes(const struct mcs_replica *rep)
{
	/* a segment name no handle has: only the sum, without overflow */
	uint64_t total;
	return mcs_xfer_check(rep->handles, rep->n_handles, (struct mcs_str){ "", 0 }, 0, &total) ? total : UINT64_MAX;
}

int replica_check(const struct mcs_client *c, const struct mcs_replica *rep, uint64_t size)
{
	uint64_t total;
	bool ok = mcs_xfer_check(rep->handles, rep->n_handles, mcs_str_c(c->segment), c->seg.size, &total);
	return ok && total == size ? 0 : -EPROTO;
}

void hcursor_copy(struct mcs_client *c, const struct mcs_replica *rep, struct hcursor *hc, const uint8_t *src,
		  size_t n)
{
	while (n) {
		const struct mcs_handle *hd = &rep->handles[hc->idx];
		size_t k = MCS_MIN(n, hd->len - hc->off);
		memcpy((uint8_t *)c->seg.base + hd->offset + hc->off, src, k);
		src += k;
		n -= k;
		hc->off += k;
		if (hc->off == hd->len) {
			hc->idx++;
			hc->off = 0;
		}
	}
}

int key_check(const char *key, struct mcs_str *ret)
{
	if (!key)
		return -EINVAL;
	size_t n = strnlen(key, MCS_KEY_MAX + 1);
	if (n == 0)
		return -EINVAL;
	if (n > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	*ret = (struct mcs_str){ key, (uint32_t)n };
	return 0;
}

int batch_keys(size_t n, const char *const *keys, struct mcs_str **ret_keys)
{
	if ((n && !keys) || n > MCS_BATCH_MAX)
		return -EINVAL;
	struct mcs_str *k = calloc(n ? n : 1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = key_check(keys[i], &k[i]);
		if (r < 0) {
			free(k);
			return r;
		}
	}
	*ret_keys = k;
	return 0;
}
