/* SPDX-License-Identifier: MIT */
/*
 * The grammar of the addresses a master is reached at, in one place: a
 * master's HOST:PORT (or [V6]:PORT), an etcd member list (HOST:PORT
 * members separated by ';' or ','), and a master address as mcstored's
 * --master, mcs_leader() and the Python layer take it: HOST:PORT, or
 * etcd://LIST for the leader of HA masters as etcd's election names it.
 * Each check says what is wrong, naming the bad part.
 */
#ifndef MCS_COMMON_ENDPOINTS_H
#define MCS_COMMON_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>

#define MCS_ETCD_MAX_ENDPOINTS 16
#define MCS_MEMBER_MAX 272 /* an etcd member's "HOST:PORT", NUL included */

/* NULL when s is HOST:PORT or [V6]:PORT (mcs_parse_hostport), else what
 * is wrong with it (a static string). */
const char *mcs_hostport_why(const char *s);

/* Split an etcd endpoint list ("etcd://" before it and "http://" before
 * each member allowed) into member[] (may be NULL: only checked), *ret_n
 * of them. 0, or -EINVAL with why (if not NULL) saying which member is
 * wrong and how. */
int mcs_etcd_members(const char *list, char (*member)[MCS_MEMBER_MAX], unsigned *ret_n, char *why, size_t whylen);

/* Whether s starts with "etcd://". */
bool mcs_master_addr_is_etcd(const char *s);
/* Whether s is a master address (HOST:PORT, [V6]:PORT, etcd://LIST);
 * when not, why (if not NULL) says what is wrong (quoting the bad member
 * of a list; the caller quotes s). */
bool mcs_master_addr_valid(const char *s, char *why, size_t whylen);

#endif
