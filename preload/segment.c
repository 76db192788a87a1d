/*
 * segment.c - attach a node to a master and detach it again.
 *
 * Attach: choose the fault backend (fault.c), connect, JOIN? / JOIN!, map
 * the segment at the address the master announces (the same on every node,
 * so pointers stored in the segment are valid everywhere), start the
 * service thread, arm the backend (userfaultfd registration, or the SIGSEGV
 * handler).  Nothing of the segment is present yet: every first access
 * faults and fetches its page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_crypto.h"
#include "dsm_log.h"
#include "fault.h"
#include "node.h"
#include "sync.h"

#define JOIN_TIMEOUT_MS 5000

/*
 * Read one frame of the join (the service thread does not run yet): only
 * kinds in `want` make sense here, and none is longer than an ERROR.
 * *body is malloc'ed (free it).  0, or a DSM_E* code after one error line.
 */
static int join_read(struct segment *s, enum dsm_kind want1,
		     enum dsm_kind want2, enum dsm_kind *kind, uint32_t *id,
		     uint8_t **body, uint32_t *len)
{
	uint8_t hdr[DSM_HDR_LEN];

	*body = NULL;
	if (net_read_full(s->sock, hdr, sizeof(hdr), JOIN_TIMEOUT_MS) < 0) {
		dsm_err("joining master %s: %s", s->peer, strerror(errno));
		return DSM_ELOST;
	}
	*kind = dsm_kind_parse(hdr);
	*id = get_u32(hdr + 5);
	*len = get_u32(hdr + 9);
	if ((*kind != want1 && *kind != want2 && *kind != K_ERROR) ||
	    *len > DSM_MAX_ERRMSG + 4) {
		dsm_err("joining master %s: the peer does not speak the dsm "
			"protocol", s->peer);
		return DSM_EPROTO;
	}
	*body = malloc(*len ? *len : 1);
	if (!*body)
		return DSM_ENOMEM;
	if (net_read_full(s->sock, *body, *len, JOIN_TIMEOUT_MS) < 0) {
		dsm_err("joining master %s: %s", s->peer, strerror(errno));
		return DSM_ELOST;
	}
	return 0;
}

/*
 * Send JOIN? (with a fresh nonce), go through the AUTH exchange if the
 * master asks for it (auth.c), and read JOIN!.  Fills node_id, page size,
 * base and size.  0, or a DSM_E* code after one error line.
 */
int seg_join(struct segment *s, uint64_t *base)
{
	uint8_t pl[10 + DSM_NONCE_LEN], *body = NULL;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	enum dsm_kind kind;
	uint32_t len, id;
	struct dsm_rd r;
	int code;

	put_u32(pl, DSM_PROTO_VERSION);
	put_u8(pl + 4, (uint8_t)DSM_LEN_BYTES);
	put_u8(pl + 5, 0);
	put_u32(pl + 6, (uint32_t)ps);
	if (dsm_random(pl + 10, DSM_NONCE_LEN) < 0) {
		dsm_err("getrandom: %s", strerror(errno));
		return DSM_ESYS;
	}
	if (seg_send(s, K_JOINQ, 1, pl, sizeof(pl)) < 0) {
		dsm_err("joining master %s: %s", s->peer, strerror(errno));
		return DSM_ELOST;
	}
	code = join_read(s, K_JOINA, K_AUTHQ, &kind, &id, &body, &len);
	if (code == 0 && kind == K_AUTHQ) {
		code = auth_answer(s, id, pl + 10, body, len);
		free(body);
		body = NULL;
		if (code == 0)
			code = join_read(s, K_JOINA, K_JOINA, &kind, &id,
					 &body, &len);
	} else if (code == 0 && kind == K_JOINA) {
		code = auth_check_unchallenged(s);
	}
	if (code != 0) {
		free(body);
		return code;
	}
	dsm_rd_init(&r, body, len);
	if (kind == K_ERROR) {
		uint32_t c = dsm_rd_u32(&r);

		dsm_err("master %s refused this node: %.*s", s->peer,
			(int)(len >= 4 ? len - 4 : 0), (const char *)body + 4);
		code = (c >= 1 && c <= (uint32_t)-DSM_EAUTH) ? -(int)c : DSM_EPROTO;
		free(body);
		return code;
	}
	s->node_id = dsm_rd_u32(&r);
	s->page_size = dsm_rd_u32(&r);
	*base = dsm_rd_u64(&r);
	s->size = (size_t)dsm_rd_len(&r);
	if (!dsm_rd_done(&r) || s->page_size != ps || s->size == 0 ||
	    s->size % ps != 0 || *base % ps != 0 || *base == 0) {
		dsm_err("joining master %s: malformed JOIN! reply", s->peer);
		free(body);
		return DSM_EPROTO;
	}
	free(body);
	s->npages = s->size / ps;
	/* Two full PAGES frames: one is read while the other travels. */
	s->prefetch_max = 2 * ((DSM_MAX_PAYLOAD - 2 * DSM_LEN_BYTES) / ps);
	s->seq_next = (size_t)-1;
	return 0;
}

/*
 * $DSM_TIMEOUT: seconds of silence from the master after which it counts
 * as lost (docs/PROTOCOL.md "Heartbeat").  0, or DSM_EINVAL after one line.
 */
static int timeout_from_env(struct segment *s)
{
	const char *env = getenv("DSM_TIMEOUT");
	char *end;
	long v;

	s->timeout_ms = (int64_t)DSM_DEFAULT_TIMEOUT_S * 1000;
	if (!env || !*env)
		return 0;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno || *end || v < 1 || v > 86400) {
		dsm_err("DSM_TIMEOUT='%s': expected 1 to 86400 seconds", env);
		return DSM_EINVAL;
	}
	s->timeout_ms = (int64_t)v * 1000;
	return 0;
}

/*
 * DSM_BASE on a node is a check, not a choice: the master decides where the
 * segment lives (dsm-master --base) so that every node agrees.
 */
static int check_base_env(const struct segment *s, uint64_t base)
{
	const char *env = getenv("DSM_BASE");
	char *end;
	unsigned long long want;

	if (!env || !*env)
		return 0;
	errno = 0;
	want = strtoull(env, &end, 0);
	if (errno || *end) {
		dsm_err("DSM_BASE='%s' is not a number", env);
		return DSM_EINVAL;
	}
	if (want != base) {
		dsm_err("DSM_BASE=0x%llx but master %s places the segment at "
			"0x%" PRIx64 "; start dsm-master with --base 0x%llx, or "
			"unset DSM_BASE", want, s->peer, base, want);
		return DSM_EINVAL;
	}
	return 0;
}

static int seg_alloc(struct segment *s)
{
	s->pstate = calloc(s->npages, 1);
	s->pflags = calloc(s->npages, 1);
	s->twin = calloc(s->npages, sizeof(*s->twin));
	s->dirty = calloc(s->npages, sizeof(*s->dirty));
	s->dirty_spare = calloc(s->npages, sizeof(*s->dirty_spare));
	s->obuf = malloc(DSM_MAX_PAYLOAD);
	s->rcap = DSM_BUFFER > DSM_HDR_LEN ? DSM_BUFFER : DSM_HDR_LEN;
	s->rbuf = malloc(s->rcap);
	if (!s->pstate || !s->pflags || !s->twin || !s->dirty ||
	    !s->dirty_spare || !s->obuf || !s->rbuf || lc_init(s) < 0) {
		dsm_err("out of memory for the page tables of a %zu-byte "
			"segment", s->size);
		return DSM_ENOMEM;
	}
	return 0;
}

static void seg_free(struct segment *s)
{
	if (s->twin)
		coh_free(s);
	twin_pool_free(s);
	free(s->pstate);
	free(s->pflags);
	free(s->twin);
	free(s->dirty);
	free(s->dirty_spare);
	if (s->lc.mh)
		lc_free(s);
	free(s->obuf);
	free(s->rbuf);
	pthread_mutex_destroy(&s->state_lock);
	pthread_mutex_destroy(&s->send_lock);
	pthread_mutex_destroy(&s->req_lock);
	pthread_mutex_destroy(&s->obj_lock);
	pthread_mutex_destroy(&s->rx_lock);
	dsm_secret_free(&s->secret);
	sync_free(s);
	free(s);
}

/*
 * Attach to the master at host:port.  Returns the segment, or NULL with *err
 * set to a DSM_E* code after one error line naming the cause.
 */
struct segment *seg_attach(const char *host, uint16_t port, int *err)
{
	struct segment *s = calloc(1, sizeof(*s));
	uint64_t base = 0;
	int code, thread_up = 0;

	if (!s) {
		*err = DSM_ENOMEM;
		return NULL;
	}
	s->sock = s->uffd = s->memfd = s->wakefd = s->epfd = -1;
	pthread_mutex_init(&s->state_lock, NULL);
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_mutex_init(&s->obj_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;

	code = timeout_from_env(s);
	if (code == 0)
		code = auth_load(s);
	if (code == 0)
		code = fault_open(s);
	if (code != 0)
		goto err;
	s->sock = net_connect(host, port, s->peer, sizeof(s->peer));
	if (s->sock < 0) {
		code = DSM_ELOST;
		goto err;
	}
	code = seg_join(s, &base);
	if (code == 0)
		code = check_base_env(s, base);
	if (code == 0)
		code = seg_alloc(s);
	if (code == 0)
		code = fault_map(s, base);
	if (code != 0)
		goto err;
	code = DSM_ESYS;
	if (svc_start(s) < 0)
		goto err;
	thread_up = 1;
	code = fault_arm(s);
	if (code != 0)
		goto err;
	dsm_info("attached to master %s as node %u: segment %p, %zu bytes",
		 s->peer, s->node_id, (void *)s->base, s->size);
	return s;
err:
	if (thread_up) {
		atomic_store(&s->detaching, 1);
		svc_stop(s);
	}
	fault_close(s);
	if (s->sock >= 0)
		close(s->sock);
	if (s->wakefd >= 0)
		close(s->wakefd);
	if (s->epfd >= 0)
		close(s->epfd);
	seg_free(s);
	*err = code;
	return NULL;
}

/*
 * Release everything this node modified and wait until the master has
 * applied it (PUSH?).  0, or DSM_ELOST.
 */
int seg_push(struct segment *s)
{
	struct waiter w;

	if (atomic_load(&s->lost))
		return DSM_ELOST;
	req_begin(s, &w);
	if (atomic_load(&w.done) == 0 &&
	    coh_release(s, K_PUSHQ, w.id, NULL, 0, NULL) < 0)
		svc_lost(s, strerror(errno));
	return svc_wait_reply(s, &w);
}

/*
 * Release everything this node modified, tell the master (DECO?) and stop
 * the service thread.  With `teardown`, also unmap the segment and free s;
 * without (the process is exiting: other threads may still look at the
 * memory), leave both.  Returns 0, or DSM_ELOST if the master was gone.
 */
int seg_detach(struct segment *s, int teardown)
{
	int rc = DSM_ELOST;

	atomic_store(&s->detaching, 1);
	if (!atomic_load(&s->lost)) {
		struct waiter w;

		req_begin(s, &w);
		if (atomic_load(&w.done) == 0 &&
		    coh_release(s, K_DECOQ, w.id, NULL, 0, NULL) < 0)
			svc_lost(s, strerror(errno));
		rc = svc_wait_reply(s, &w);
	}
	svc_stop(s);
	if (!teardown)
		return rc;
	close(s->sock);
	close(s->wakefd);
	close(s->epfd);
	fault_close(s);
	seg_free(s);
	return rc;
}

int seg_range(const struct segment *s, const void *adr, size_t len,
	      size_t *off)
{
	uintptr_t a = (uintptr_t)adr, b = (uintptr_t)s->base;

	if (a < b || a - b >= s->size || len > s->size - (a - b))
		return -1;
	*off = (size_t)(a - b);
	return 0;
}
