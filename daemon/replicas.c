/* SPDX-License-Identifier: MIT */
/*
 * The node's table of the replica parts it holds: a log in a memfd (see
 * replicas.h for the layout and why) and an index by segment offset
 * (open addressing, linear probing, deletion by backward shift).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/util.h"
#include "daemon/replicas.h"
#include "mcstore.h"
#include "proto/proto.h"

#define RTAB_MAGIC UINT64_C(0x3142415452534d43) /* "MCSRTAB1" */
#define RTAB_VERSION 1
#define RTAB_MIN_MAP (UINT64_C(1) << 20)
#define RTAB_COMPACT_MIN (UINT64_C(1) << 20) /* a log this short is never compacted */

enum { REC_LIVE = 1, REC_DROPPED = 2 };

struct rtab_hdr {
	uint64_t magic;
	uint32_t version, hdr_size;
	uint64_t incarnation;
	uint64_t committed; /* end of the log: records up to here are published */
	uint64_t reserved[4];
};
_Static_assert(sizeof(struct rtab_hdr) == 64, "header is 64 bytes");

struct rtab_rec {
	uint32_t rec_len; /* the whole record, a multiple of 8 */
	uint32_t state;   /* REC_*: not hashed (a drop stores it) */
	uint64_t offset, len, size, checksum, value_off;
	uint32_t flags;
	uint16_t replica, handle, n_handles, keylen;
	uint32_t zero;
	/* then the key, zero padding to 8, and the u64 XXH3 of the record
	 * from offset to the padding, with rec_len mixed in as the seed */
};
_Static_assert(sizeof(struct rtab_rec) == 64, "record head is 64 bytes");

struct slot {
	uint64_t offset;
	uint64_t pos; /* of the record in the log; 0: empty */
};

struct mcs_rtab {
	int fd;
	uint8_t *map;
	uint64_t map_len;   /* the memfd's size */
	uint64_t count, dead_bytes;
	uint64_t generation;
	void (*moved)(void *arg);   /* mcs_rtab_on_move */
	void *moved_arg;
	struct slot *slots;
	uint64_t n_slots;   /* power of two, at least twice count */
};

static inline struct rtab_hdr *hdr_of(const struct mcs_rtab *t)
{
	return (struct rtab_hdr *)t->map;
}

static inline uint64_t committed(const struct mcs_rtab *t)
{
	return __atomic_load_n(&hdr_of(t)->committed, __ATOMIC_ACQUIRE);
}

static inline struct rtab_rec *rec_at(const struct mcs_rtab *t, uint64_t pos)
{
	return (struct rtab_rec *)(t->map + pos);
}

static inline uint64_t rec_len_for(uint32_t keylen)
{
	return MCS_ALIGN_UP(sizeof(struct rtab_rec) + keylen, 8) + 8;
}

static uint64_t rec_hash(const struct rtab_rec *r)
{
	return XXH3_64bits_withSeed((const uint8_t *)r + 8, r->rec_len - 16, r->rec_len);
}

static bool hash_ok(const struct rtab_rec *r)
{
	uint64_t sum;
	memcpy(&sum, (const uint8_t *)r + r->rec_len - 8, 8);
	return sum == rec_hash(r);
}

/* ---- the index ------------------------------------------------------------------ */

static inline uint64_t slot_home(const struct mcs_rtab *t, uint64_t offset)
{
	return (offset * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - __builtin_ctzll(t->n_slots));
}

static struct slot *index_find(const struct mcs_rtab *t, uint64_t offset)
{
	for (uint64_t i = slot_home(t, offset);; i = (i + 1) & (t->n_slots - 1)) {
		struct slot *s = &t->slots[i];
		if (!s->pos)
			return NULL;
		if (s->offset == offset)
			return s;
	}
}

static void index_put_raw(struct slot *slots, uint64_t n, uint64_t offset, uint64_t pos)
{
	uint64_t i = (offset * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - __builtin_ctzll(n));
	while (slots[i].pos)
		i = (i + 1) & (n - 1);
	slots[i] = (struct slot){ offset, pos };
}

/* Room for one more (load at most a half). */
static int index_reserve(struct mcs_rtab *t)
{
	if ((t->count + 1) * 2 <= t->n_slots)
		return 0;
	uint64_t n = t->n_slots ? t->n_slots * 2 : 1024;
	struct slot *s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint64_t i = 0; i < t->n_slots; i++)
		if (t->slots[i].pos)
			index_put_raw(s, n, t->slots[i].offset, t->slots[i].pos);
	free(t->slots);
	t->slots = s;
	t->n_slots = n;
	return 0;
}

static void index_del(struct mcs_rtab *t, struct slot *s)
{
	uint64_t mask = t->n_slots - 1;
	uint64_t i = (uint64_t)(s - t->slots);
	/* backward shift: move up every later entry of the run that may live here */
	for (uint64_t j = (i + 1) & mask; t->slots[j].pos; j = (j + 1) & mask) {
		uint64_t home = slot_home(t, t->slots[j].offset);
		/* j's entry may move to i when i lies cyclically in [home, j) */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = (struct slot){ 0, 0 };
}

/* ---- the memfd ------------------------------------------------------------------ */

static int map_fd(int fd, uint64_t len, uint8_t **ret)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

/* A new memfd of len bytes with an empty log, mapped. */
static int make_log(uint64_t incarnation, uint64_t len, int *ret_fd, uint8_t **ret_map)
{
	int fd = memfd_create("mcstore-replicas", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = ftruncate(fd, (off_t)len) < 0 ? -errno : map_fd(fd, len, ret_map);
	if (r < 0) {
		close(fd);
		return r;
	}
	struct rtab_hdr *h = (struct rtab_hdr *)*ret_map;
	*h = (struct rtab_hdr){ RTAB_MAGIC, RTAB_VERSION, sizeof(*h), incarnation, sizeof(*h), { 0 } };
	*ret_fd = fd;
	return 0;
}

/* The log can take need more bytes. */
static int log_reserve(struct mcs_rtab *t, uint64_t need)
{
	uint64_t end = committed(t);
	if (need <= t->map_len - end)
		return 0;
	uint64_t len = t->map_len;
	while (need > len - end)
		len *= 2;
	if (ftruncate(t->fd, (off_t)len) < 0)
		return -errno;
	void *p = mremap(t->map, t->map_len, len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -errno; /* the memfd is longer, the mapping as it was: harmless */
	t->map = p;
	t->map_len = len;
	return 0;
}

/* A new memfd (mapped, len bytes) holds the log from now on: nothing in
 * it is dropped. */
static void replace_log(struct mcs_rtab *t, int fd, uint8_t *map, uint64_t len)
{
	munmap(t->map, t->map_len);
	close(t->fd);
	t->fd = fd;
	t->map = map;
	t->map_len = len;
	t->dead_bytes = 0;
	t->generation++;
	if (t->moved)
		t->moved(t->moved_arg);
}

/* Copy the live records to a new memfd, which replaces the old one. */
static int compact(struct mcs_rtab *t)
{
	uint64_t live = committed(t) - sizeof(struct rtab_hdr) - t->dead_bytes;
	uint64_t len = RTAB_MIN_MAP;
	while (len < 2 * live + sizeof(struct rtab_hdr))
		len *= 2;
	int fd;
	uint8_t *map;
	int r = make_log(hdr_of(t)->incarnation, len, &fd, &map);
	if (r < 0)
		return r;
	/* in the log's order, which is the order of the adds: the last
	 * record of a key is its newest value (mcs_rtab_drop_superseded) */
	uint64_t end = sizeof(struct rtab_hdr);
	for (uint64_t pos = sizeof(struct rtab_hdr); pos < committed(t);) {
		const struct rtab_rec *rec = rec_at(t, pos);
		if (rec->state == REC_LIVE) {
			memcpy(map + end, rec, rec->rec_len);
			index_find(t, rec->offset)->pos = end;
			end += rec->rec_len;
		}
		pos += rec->rec_len;
	}
	((struct rtab_hdr *)map)->committed = end;
	replace_log(t, fd, map, len);
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

static bool part_valid(const struct mcs_replica_part *p)
{
	return p->key.p && p->key.len >= 1 && p->key.len <= MCS_KEY_MAX && p->len > 0 && p->offset <= UINT64_MAX - p->len &&
	       p->value_off <= p->size && p->len <= p->size - p->value_off && p->replica < MCS_MAX_REPLICAS &&
	       p->n_handles >= 1 && p->n_handles <= MCS_MAX_HANDLES && p->handle < p->n_handles;
}

static void part_of(const struct rtab_rec *rec, struct mcs_replica_part *ret)
{
	*ret = (struct mcs_replica_part){
		.key = { (const char *)(rec + 1), rec->keylen }, .offset = rec->offset, .len = rec->len,
		.size = rec->size, .checksum = rec->checksum, .value_off = rec->value_off, .flags = rec->flags,
		.replica = rec->replica, .handle = rec->handle, .n_handles = rec->n_handles,
	};
}

int mcs_rtab_new(uint64_t incarnation, struct mcs_rtab **ret)
{
	struct mcs_rtab *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int r = make_log(incarnation, RTAB_MIN_MAP, &t->fd, &t->map);
	if (r < 0) {
		free(t);
		return r;
	}
	t->map_len = RTAB_MIN_MAP;
	*ret = t;
	return 0;
}

int mcs_rtab_open(int fd, uint64_t incarnation, struct mcs_rtab **ret)
{
	struct stat st;
	struct mcs_rtab *t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->fd = fd;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (!r && (st.st_size < (off_t)sizeof(struct rtab_hdr) || (uint64_t)st.st_size > (UINT64_C(1) << 40)))
		r = -EBADMSG;
	if (!r) {
		t->map_len = (uint64_t)st.st_size;
		r = map_fd(fd, t->map_len, &t->map);
	}
	const struct rtab_hdr *h = (const struct rtab_hdr *)t->map;
	if (!r && (h->magic != RTAB_MAGIC || h->version != RTAB_VERSION || h->hdr_size != sizeof(*h) ||
		   (incarnation && h->incarnation != incarnation) || h->committed < sizeof(*h) || h->committed > t->map_len ||
		   (h->committed & 7)))
		r = -EBADMSG;
	for (uint64_t pos = sizeof(*h); !r && pos < h->committed;) {
		const struct rtab_rec *rec = rec_at(t, pos);
		if (h->committed - pos < rec_len_for(0) || rec->rec_len > h->committed - pos ||
		    rec->rec_len != rec_len_for(rec->keylen) || !hash_ok(rec)) {
			r = -EBADMSG;
			break;
		}
		struct mcs_replica_part p;
		part_of(rec, &p);
		if (!part_valid(&p)) {
			r = -EBADMSG;
			break;
		}
		if (rec->state == REC_LIVE) {
			if ((r = index_reserve(t)) < 0)
				break;
			if (index_find(t, rec->offset)) {
				r = -EBADMSG; /* two live parts at one offset: not ours */
				break;
			}
			index_put_raw(t->slots, t->n_slots, rec->offset, pos);
			t->count++;
		} else if (rec->state == REC_DROPPED) {
			t->dead_bytes += rec->rec_len;
		} else {
			r = -EBADMSG;
		}
		pos += rec->rec_len;
	}
	if (r < 0) {
		mcs_rtab_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

struct mcs_rtab *mcs_rtab_free(struct mcs_rtab *t)
{
	if (!t)
		return NULL;
	if (t->map)
		munmap(t->map, t->map_len);
	if (t->fd >= 0)
		close(t->fd);
	free(t->slots);
	free(t);
	return NULL;
}

uint64_t mcs_rtab_incarnation(const struct mcs_rtab *t)
{
	return hdr_of(t)->incarnation;
}

int mcs_rtab_fd(const struct mcs_rtab *t)
{
	return t->fd;
}

uint64_t mcs_rtab_generation(const struct mcs_rtab *t)
{
	return t->generation;
}

void mcs_rtab_on_move(struct mcs_rtab *t, void (*fn)(void *arg), void *arg)
{
	t->moved = fn;
	t->moved_arg = arg;
}

static void drop_slot(struct mcs_rtab *t, struct slot *s)
{
	struct rtab_rec *rec = rec_at(t, s->pos);
	__atomic_store_n(&rec->state, (uint32_t)REC_DROPPED, __ATOMIC_RELEASE);
	t->dead_bytes += rec->rec_len;
	t->count--;
	index_del(t, s);
}

int mcs_rtab_add(struct mcs_rtab *t, const struct mcs_replica_part *p)
{
	if (!part_valid(p))
		return -EINVAL;
	uint64_t need = rec_len_for(p->key.len);
	int r = index_reserve(t);
	if (r < 0 || (r = log_reserve(t, need)) < 0)
		return r;
	struct slot *old = index_find(t, p->offset);
	if (old)
		drop_slot(t, old);
	uint64_t pos = committed(t);
	struct rtab_rec *rec = rec_at(t, pos);
	*rec = (struct rtab_rec){ (uint32_t)need, REC_LIVE, p->offset, p->len, p->size, p->checksum,
				  p->value_off, p->flags, (uint16_t)p->replica, (uint16_t)p->handle,
				  (uint16_t)p->n_handles, (uint16_t)p->key.len, 0 };
	uint8_t *key = (uint8_t *)(rec + 1);
	memcpy(key, p->key.p, p->key.len);
	memset(key + p->key.len, 0, need - 8 - sizeof(*rec) - p->key.len);
	uint64_t sum = rec_hash(rec);
	memcpy((uint8_t *)rec + need - 8, &sum, 8);
	__atomic_store_n(&hdr_of(t)->committed, pos + need, __ATOMIC_RELEASE);
	index_put_raw(t->slots, t->n_slots, p->offset, pos);
	t->count++;
	if (old && t->dead_bytes > committed(t) / 2 && committed(t) > RTAB_COMPACT_MIN)
		(void)compact(t); /* on failure the log stays as it is: still right */
	return 0;
}

int mcs_rtab_drop(struct mcs_rtab *t, uint64_t offset)
{
	struct slot *s = t->n_slots ? index_find(t, offset) : NULL;
	if (!s)
		return -ENOENT;
	drop_slot(t, s);
	if (t->dead_bytes > committed(t) / 2 && committed(t) > RTAB_COMPACT_MIN)
		(void)compact(t);
	return 0;
}

int mcs_rtab_get(const struct mcs_rtab *t, uint64_t offset, struct mcs_replica_part *ret)
{
	const struct slot *s = t->n_slots ? index_find(t, offset) : NULL;
	if (!s)
		return -ENOENT;
	part_of(rec_at(t, s->pos), ret);
	return 0;
}

int mcs_rtab_clear(struct mcs_rtab *t)
{
	int fd;
	uint8_t *map;
	int r = make_log(hdr_of(t)->incarnation, RTAB_MIN_MAP, &fd, &map);
	if (r < 0)
		return r;
	replace_log(t, fd, map, RTAB_MIN_MAP);
	t->count = 0;
	if (t->slots)
		memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
	return 0;
}

uint64_t mcs_rtab_count(const struct mcs_rtab *t)
{
	return t->count;
}

uint64_t mcs_rtab_log_bytes(const struct mcs_rtab *t)
{
	return committed(t);
}

uint64_t mcs_rtab_dead_bytes(const struct mcs_rtab *t)
{
	return t->dead_bytes;
}

static int cmp_u64_pair(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int mcs_rtab_walk(const struct mcs_rtab *t, int (*fn)(const struct mcs_replica_part *p, void *arg), void *arg)
{
	struct slot *v = malloc((t->count ? t->count : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t n = 0;
	for (uint64_t i = 0; i < t->n_slots; i++)
		if (t->slots[i].pos)
			v[n++] = t->slots[i];
	qsort(v, n, sizeof(*v), cmp_u64_pair);
	int r = 0;
	for (uint64_t i = 0; i < n && !r; i++) {
		struct mcs_replica_part p;
		part_of(rec_at(t, v[i].pos), &p);
		r = fn(&p, arg);
	}
	free(v);
	return r;
}

/* A key's latest record, while the log is walked in order. */
struct key_slot {
	uint64_t hash;
	uint64_t pos; /* 0: empty */
};

static bool same_key(const struct rtab_rec *a, const struct rtab_rec *b)
{
	return a->keylen == b->keylen && memcmp(a + 1, b + 1, a->keylen) == 0;
}

int64_t mcs_rtab_drop_superseded(struct mcs_rtab *t)
{
	uint64_t n = 16;
	while (n < 2 * t->count)
		n *= 2;
	struct key_slot *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int64_t dropped = 0;
	uint64_t end = committed(t); /* drops add nothing to the log */
	for (uint64_t pos = sizeof(struct rtab_hdr); pos < end;) {
		const struct rtab_rec *rec = rec_at(t, pos);
		uint64_t next = pos + rec->rec_len;
		if (rec->state != REC_LIVE) {
			pos = next;
			continue;
		}
		uint64_t h = XXH3_64bits(rec + 1, rec->keylen);
		uint64_t i = (h * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - __builtin_ctzll(n));
		while (v[i].pos && !(v[i].hash == h && same_key(rec_at(t, v[i].pos), rec)))
			i = (i + 1) & (n - 1);
		if (v[i].pos) {
			/* an older value of the key (an upsert replaced it) */
			drop_slot(t, index_find(t, rec_at(t, v[i].pos)->offset));
			dropped++;
		}
		v[i] = (struct key_slot){ h, pos };
		pos = next;
	}
	free(v);
	if (dropped && t->dead_bytes > committed(t) / 2 && committed(t) > RTAB_COMPACT_MIN)
		(void)compact(t);
	return dropped;
}
