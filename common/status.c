/* SPDX-License-Identifier: MIT */
/* mcstore's words for its statuses (negated errnos), shared by the library
 * and the programs: what each means as the answer of an object operation. */
#include <errno.h>
#include <string.h>

#include "common/util.h"

static const struct {
	int err;
	const char *text;
} words[] = {
	{ ENOENT, "no such key" },
	{ EAGAIN, "the key's put has not ended yet (replica not ready)" },
	{ EEXIST, "key already exists" },
	{ ENOSPC, "no space left in any segment" },
	{ EXFULL, "not enough nodes for the replicas asked" },
	{ EBUSY, "object is leased by a reader" },
	{ EBADMSG, "checksum mismatch on every replica" },
	{ ERANGE, "buffer too small for the object" },
	{ EREMOTE, "replica is not on this node" },
	{ ENAMETOOLONG, "key too long" },
	{ EMSGSIZE, "length exceeds the configured limit" },
	{ EPROTO, "malformed protocol message" },
	{ EPROTONOSUPPORT, "protocol version mismatch" },
	{ EHOSTDOWN, "master unavailable" },
	{ EREMCHG, "this master is a standby: the leader serves" },
	{ ETIMEDOUT, "timed out" },
	{ ENODEV, "no such segment" },
	{ ESRCH, "no such hold" },
	{ ENOLINK, "no node still up recorded the object in its table" },
	{ EDQUOT, "too many holds for this connection" },
};

const char *mcs_status_text(int status)
{
	if (status == 0)
		return "success";
	if (status > 0 || status < -4095)
		return "unknown status";
	for (size_t i = 0; i < MCS_ARRAY_SIZE(words); i++)
		if (words[i].err == -status)
			return words[i].text;
	const char *d = strerrordesc_np(-status);
	return d ? d : "unknown status";
}
