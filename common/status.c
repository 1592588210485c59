/* SPDX-License-Identifier: MIT */
/* Names of mcstore statuses, shared by the library and the programs. */
#include <string.h>

#include "common/util.h"
#include "mcstore.h"

static const char *const status_names[] = {
	[-MCS_E_NOT_FOUND - MCS_E_BASE] = "no such key",
	[-MCS_E_EXISTS - MCS_E_BASE] = "key already exists",
	[-MCS_E_NO_SPACE - MCS_E_BASE] = "no space left in any segment",
	[-MCS_E_LEASED - MCS_E_BASE] = "object is leased by a reader",
	[-MCS_E_BUSY - MCS_E_BASE] = "a put of this key is in progress",
	[-MCS_E_CORRUPT - MCS_E_BASE] = "checksum mismatch on every replica",
	[-MCS_E_PROTO - MCS_E_BASE] = "malformed protocol message",
	[-MCS_E_TOO_LARGE - MCS_E_BASE] = "length exceeds the configured limit",
	[-MCS_E_INVALID - MCS_E_BASE] = "invalid argument",
	[-MCS_E_NO_SEGMENT - MCS_E_BASE] = "no such segment",
	[-MCS_E_NO_MASTER - MCS_E_BASE] = "master unavailable",
	[-MCS_E_BUF_TOO_SMALL - MCS_E_BASE] = "buffer too small for the object",
	[-MCS_E_NOT_LOCAL - MCS_E_BASE] = "replica is not on this node",
	[-MCS_E_SEGMENT_EXISTS - MCS_E_BASE] = "segment already mounted",
	[-MCS_E_VERSION - MCS_E_BASE] = "protocol version mismatch",
	[-MCS_E_KEY_TOO_LONG - MCS_E_BASE] = "key too long",
	[-MCS_E_NOT_CONTIGUOUS - MCS_E_BASE] = "object is not contiguous",
	[-MCS_E_TIMEOUT - MCS_E_BASE] = "timed out",
	[-MCS_E_NO_HOLD - MCS_E_BASE] = "no such hold",
	[-MCS_E_PARTIAL - MCS_E_BASE] = "fewer replicas than requested",
	[-MCS_E_PINNED - MCS_E_BASE] = "object is pinned",
	[-MCS_E_TOO_FEW_NODES - MCS_E_BASE] = "not enough nodes for the replicas asked",
};

MCS_EXPORT const char *mcs_strerror(int status)
{
	if (status == 0)
		return "success";
	if (status < 0 && status > -MCS_E_BASE)
		return strerror(-status);
	if (status <= -MCS_E_BASE - 1 && status > MCS_E_LAST) {
		const char *s = status_names[-status - MCS_E_BASE];
		if (s)
			return s;
	}
	return "unknown status";
}
