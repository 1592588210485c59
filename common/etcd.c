/* SPDX-License-Identifier: MIT */
/*
 * The etcd v3 JSON gateway client (etcd.h). Each call is one POST of a
 * JSON body to /v3/<service>/<method> of a member; int64 fields travel as
 * strings, keys and values in base64 (libsodium's codec).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "common/etcd.h"
#include "common/util.h"

#define ANSWER_MAX (256u << 10)

struct mcs_etcd {
	CURL *curl;
	unsigned timeout_ms;
	unsigned n, cur;               /* members, and the one that answered last */
	char member[MCS_ETCD_MAX_ENDPOINTS][MCS_MEMBER_MAX];
	char *ans;
	size_t ans_len;
	bool ans_over;
};

bool mcs_etcd_endpoints_valid(const char *endpoints)
{
	return mcs_etcd_members(endpoints, NULL, NULL, NULL, 0) == 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int mcs_etcd_new(const char *endpoints, unsigned timeout_ms, struct mcs_etcd **ret)
{
	/* once per process, whichever thread comes first (libmcstore's
	 * mcs_leader may be called from several) */
	pthread_once(&curl_once, curl_init);
	struct mcs_etcd *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->timeout_ms = timeout_ms ? timeout_ms : 1000;
	int r = mcs_etcd_members(endpoints, e->member, &e->n, NULL, 0);
	if (r == 0 && !(e->curl = curl_easy_init()))
		r = -ENOMEM;
	if (r < 0) {
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void mcs_etcd_free(struct mcs_etcd *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	free(e->ans);
	free(e);
}

const char *mcs_etcd_member(const struct mcs_etcd *e)
{
	return e->member[e->cur];
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct mcs_etcd *e = arg;
	size_t len = size * n;
	if (e->ans_len + len > ANSWER_MAX) {
		e->ans_over = true;
		return 0; /* abort the transfer */
	}
	char *a = realloc(e->ans, e->ans_len + len + 1);
	if (!a)
		return 0;
	memcpy(a + e->ans_len, p, len);
	e->ans = a;
	e->ans_len += len;
	a[e->ans_len] = 0;
	return len;
}

static int curl_status(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EIO;
	}
}

/* POST body to path of a member, the last that answered first; *ret is
 * the answer's JSON (put it). */
static int post(struct mcs_etcd *e, const char *path, json_object *body, json_object **ret)
{
	const char *js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	int err = -EIO;
	for (unsigned k = 0; k < e->n; k++) {
		unsigned i = (e->cur + k) % e->n;
		char url[320];
		snprintf(url, sizeof(url), "http://%s%s", e->member[i], path);
		e->ans_len = 0;
		e->ans_over = false;
		curl_easy_reset(e->curl);
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, js);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http");
		CURLcode c = curl_easy_perform(e->curl);
		if (c != CURLE_OK) {
			err = e->ans_over ? -EMSGSIZE : curl_status(c);
			continue;
		}
		long code = 0;
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
		json_object *j = e->ans_len ? json_tokener_parse(e->ans) : NULL;
		if (code != 200 || !j || !json_object_is_type(j, json_type_object)) {
			json_object_put(j);
			err = -EPROTO;
			continue; /* a member that is not etcd, or one that cannot serve now */
		}
		e->cur = i;
		*ret = j;
		return 0;
	}
	return err;
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* An int64 as etcd writes them (a string), or as a number; 0 when absent. */
static int64_t get_i64(json_object *o, const char *k)
{
	json_object *v = get(o, k);
	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

static json_object *i64_str(int64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%lld", (long long)v);
	return json_object_new_string(b);
}

static json_object *b64(const char *s)
{
	size_t n = strlen(s);
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	sodium_bin2base64(out, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
	json_object *j = json_object_new_string(out);
	free(out);
	return j;
}

/* The text of a base64 field into out (NUL-terminated); false if it is
 * not base64 or too long. */
static bool unb64(json_object *v, char *out, size_t cap)
{
	if (!v || !json_object_is_type(v, json_type_string))
		return false;
	const char *s = json_object_get_string(v);
	size_t len = 0;
	if (sodium_base642bin((unsigned char *)out, cap - 1, s, strlen(s), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return false;
	out[len] = 0;
	return true;
}

int mcs_etcd_lease_grant(struct mcs_etcd *e, unsigned ttl_s, int64_t *ret_id, unsigned *ret_ttl)
{
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "TTL", json_object_new_int64(ttl_s));
	int r = post(e, "/v3/lease/grant", q, &a);
	json_object_put(q);
	if (r < 0)
		return r;
	*ret_id = get_i64(a, "ID");
	*ret_ttl = (unsigned)get_i64(a, "TTL");
	json_object_put(a);
	return *ret_id && *ret_ttl ? 0 : -EPROTO;
}

int mcs_etcd_lease_keepalive(struct mcs_etcd *e, int64_t id, unsigned *ret_ttl)
{
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "ID", i64_str(id));
	int r = post(e, "/v3/lease/keepalive", q, &a);
	json_object_put(q);
	if (r < 0)
		return r;
	/* a stream of answers: one here, {"result": {...}} */
	int64_t ttl = get_i64(get(a, "result"), "TTL");
	json_object_put(a);
	*ret_ttl = (unsigned)(ttl > 0 ? ttl : 0);
	return ttl > 0 ? 0 : -ENOENT;
}

int mcs_etcd_lease_revoke(struct mcs_etcd *e, int64_t id)
{
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "ID", i64_str(id));
	int r = post(e, "/v3/lease/revoke", q, &a);
	json_object_put(q);
	json_object_put(a);
	return r;
}

static void kv_of(json_object *kvs, struct mcs_etcd_kv *ret)
{
	*ret = (struct mcs_etcd_kv){ 0 };
	json_object *kv = kvs && json_object_is_type(kvs, json_type_array) && json_object_array_length(kvs) > 0
				  ? json_object_array_get_idx(kvs, 0)
				  : NULL;
	if (!kv || !unb64(get(kv, "value"), ret->value, sizeof(ret->value)))
		return;
	ret->found = true;
	ret->create_rev = get_i64(kv, "create_revision");
	ret->lease = get_i64(kv, "lease");
}

static json_object *key_compare(const char *key, int64_t create_rev)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "key", b64(key));
	json_object_object_add(c, "result", json_object_new_string("EQUAL"));
	json_object_object_add(c, "target", json_object_new_string("CREATE"));
	json_object_object_add(c, "create_revision", i64_str(create_rev));
	json_object *a = json_object_new_array();
	json_object_array_add(a, c);
	return a;
}

static json_object *one_op(const char *what, json_object *body)
{
	json_object *op = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(op, what, body);
	json_object_array_add(a, op);
	return a;
}

int mcs_etcd_create(struct mcs_etcd *e, const char *key, const char *value, int64_t lease, bool *ret_won,
		    struct mcs_etcd_kv *ret_kv)
{
	json_object *put = json_object_new_object(), *range = json_object_new_object();
	json_object_object_add(put, "key", b64(key));
	json_object_object_add(put, "value", b64(value));
	json_object_object_add(put, "lease", i64_str(lease));
	json_object_object_add(range, "key", b64(key));
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "compare", key_compare(key, 0));
	json_object_object_add(q, "success", one_op("request_put", put));
	json_object_object_add(q, "failure", one_op("request_range", range));
	int r = post(e, "/v3/kv/txn", q, &a);
	json_object_put(q);
	if (r < 0)
		return r;
	json_object *ok = get(a, "succeeded");
	*ret_won = ok && json_object_get_boolean(ok);
	if (*ret_won) {
		/* ours: created at the transaction's revision */
		*ret_kv = (struct mcs_etcd_kv){ .found = true, .create_rev = get_i64(get(a, "header"), "revision"),
						.lease = lease };
		snprintf(ret_kv->value, sizeof(ret_kv->value), "%s", value);
	} else {
		json_object *resp = get(a, "responses");
		json_object *first = resp && json_object_is_type(resp, json_type_array) && json_object_array_length(resp)
					     ? json_object_array_get_idx(resp, 0)
					     : NULL;
		kv_of(get(get(first, "response_range"), "kvs"), ret_kv);
	}
	json_object_put(a);
	return *ret_won && !ret_kv->create_rev ? -EPROTO : 0;
}

int mcs_etcd_get(struct mcs_etcd *e, const char *key, struct mcs_etcd_kv *ret_kv)
{
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "key", b64(key));
	int r = post(e, "/v3/kv/range", q, &a);
	json_object_put(q);
	if (r < 0)
		return r;
	kv_of(get(a, "kvs"), ret_kv);
	json_object_put(a);
	return 0;
}

int mcs_etcd_delete_if(struct mcs_etcd *e, const char *key, int64_t create_rev)
{
	json_object *del = json_object_new_object();
	json_object_object_add(del, "key", b64(key));
	json_object *q = json_object_new_object(), *a = NULL;
	json_object_object_add(q, "compare", key_compare(key, create_rev));
	json_object_object_add(q, "success", one_op("request_delete_range", del));
	int r = post(e, "/v3/kv/txn", q, &a);
	json_object_put(q);
	json_object_put(a);
	return r;
}
