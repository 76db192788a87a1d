/*
 * auth.c - the node's side of the join handshake with a secret
 * (docs/PROTOCOL.md "Authentication", docs/SECURITY.md), and which secret
 * a process uses: dsm_set_secret_file()'s, else $DSM_SECRET_FILE's.
 *
 * A node with a secret insists on mutual proof: it accepts a master only
 * after checking the master's HMAC over both nonces, and refuses one that
 * admits it without asking (that could be anyone).  A node without a
 * secret that is challenged says clearly what is missing.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dsm.h"
#include "dsm_crypto.h"
#include "dsm_log.h"
#include "node.h"

static pthread_mutex_t path_mu = PTHREAD_MUTEX_INITIALIZER;
static int path_set;			/* dsm_set_secret_file was called */
static char path_buf[PATH_MAX];		/* its path; "" = none */

int dsm_set_secret_file(const char *path)
{
	if (path && strlen(path) >= sizeof(path_buf))
		return DSM_EINVAL;
	pthread_mutex_lock(&path_mu);
	snprintf(path_buf, sizeof(path_buf), "%s", path ? path : "");
	path_set = 1;
	pthread_mutex_unlock(&path_mu);
	return DSM_OK;
}

/* See api.h. */
int auth_secret_path(char *out)
{
	const char *env;
	int rc;

	pthread_mutex_lock(&path_mu);
	if (path_set) {
		snprintf(out, PATH_MAX, "%s", path_buf);
	} else {
		env = getenv("DSM_SECRET_FILE");
		snprintf(out, PATH_MAX, "%s", env ? env : "");
	}
	rc = out[0] ? 0 : -1;
	pthread_mutex_unlock(&path_mu);
	return rc;
}

/*
 * Read this process's secret (if any) into s->secret, once per attach; a
 * fork child re-attaching keeps its parent's copy.  0, or DSM_EAUTH after
 * one error line (a secret was asked for and cannot be used: going on
 * without it would only fail later, less clearly).
 */
int auth_load(struct segment *s)
{
	char path[PATH_MAX], why[512];

	if (auth_secret_path(path) < 0)
		return 0;
	if (dsm_secret_load(path, &s->secret, why, sizeof(why)) < 0) {
		dsm_err("%s", why);
		return DSM_EAUTH;
	}
	return 0;
}

/* Tell the master why we give up (best effort: we close anyway). */
static void auth_tell(struct segment *s, const char *why)
{
	char text[DSM_MAX_ERRMSG];
	uint8_t pl[4 + DSM_MAX_ERRMSG];
	int n = snprintf(text, sizeof(text), "%s", why);

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	put_u32(pl, (uint32_t)-DSM_EAUTH);
	memcpy(pl + 4, text, (size_t)n);
	(void)seg_send(s, K_ERROR, 0, pl, 4 + (uint32_t)n);
}

/*
 * The master answered our JOIN? (nonce nn) with AUTH? p[0..len): check its
 * proof and send ours (AUTH!, request id).  0, or DSM_EAUTH/DSM_EPROTO/
 * DSM_ELOST after one error line.
 */
int auth_answer(struct segment *s, uint32_t id, const uint8_t *nn,
		const uint8_t *p, uint32_t len)
{
	uint8_t want[DSM_MAC_LEN], mine[DSM_MAC_LEN];
	int ok;

	if (len != DSM_NONCE_LEN + DSM_MAC_LEN) {
		dsm_err("joining master %s: malformed AUTH? (%u bytes)",
			s->peer, len);
		return DSM_EPROTO;
	}
	if (!s->secret.len) {
		dsm_err("master %s requires authentication: give this node its "
			"secret with DSM_SECRET_FILE=FILE (or "
			"dsm_set_secret_file)", s->peer);
		auth_tell(s, "this node has no secret (DSM_SECRET_FILE unset)");
		return DSM_EAUTH;
	}
	dsm_auth_proof(&s->secret, DSM_AUTH_LABEL_MASTER, nn, p, want);
	ok = dsm_ct_equal(want, p + DSM_NONCE_LEN, DSM_MAC_LEN);
	explicit_bzero(want, sizeof(want));
	if (!ok) {
		dsm_err("master %s does not know this node's secret (the secret "
			"files differ, or it is not the real master): refusing "
			"it", s->peer);
		auth_tell(s, "the master's proof of the secret is wrong");
		return DSM_EAUTH;
	}
	dsm_auth_proof(&s->secret, DSM_AUTH_LABEL_NODE, p, nn, mine);
	ok = seg_send(s, K_AUTHA, id, mine, DSM_MAC_LEN);
	explicit_bzero(mine, sizeof(mine));
	if (ok < 0) {
		dsm_err("joining master %s: %s", s->peer, strerror(errno));
		return DSM_ELOST;
	}
	return 0;
}

/*
 * The master admitted us with JOIN! without a challenge.  Fine without a
 * secret; with one it is refused: an impostor would do exactly that.
 * 0 or DSM_EAUTH.
 */
int auth_check_unchallenged(struct segment *s)
{
	if (!s->secret.len)
		return 0;
	dsm_err("master %s admitted this node without asking for the secret "
		"(DSM_SECRET_FILE is set): refusing it; start dsm-master with "
		"--secret-file, or unset DSM_SECRET_FILE", s->peer);
	return DSM_EAUTH;
}
