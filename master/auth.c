/*
 * auth.c - the master's side of the join handshake with a secret
 * (docs/PROTOCOL.md "Authentication", docs/SECURITY.md), and protected mode.
 *
 * With a secret, a JOIN? that passed the version/ARCHI/page checks is not
 * answered JOIN! but AUTH?: a fresh nonce of ours and our proof over both
 * nonces.  The connection stays in AWAIT_JOIN (same deadline) with
 * auth_pending set until its AUTH! arrives; a wrong proof, a JOIN? without
 * a nonce, or any other frame is refused with ERROR DSM_EAUTH.  Proofs are
 * compared in constant time; the secret never leaves the process.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dsm_crypto.h"
#include "dsm_log.h"
#include "master_int.h"

/*
 * Load cfg->secret_file (if any) into m->secret, and refuse to serve a
 * non-loopback address without one unless cfg->insecure: anyone who can
 * reach the port could read and write the whole segment.  Call after the
 * listening socket is bound (m->listen_loopback set).  0, or -1 with one
 * error line (the configuration is wrong: DSM_EINVAL for the caller).
 */
int mauth_configure(struct master *m, const struct master_config *cfg)
{
	char why[512];

	if (cfg->secret_file) {
		if (dsm_secret_load(cfg->secret_file, &m->secret, why,
				    sizeof(why)) < 0) {
			dsm_err("%s", why);
			return -1;
		}
		dsm_info("nodes must prove they know the secret of %s",
			 cfg->secret_file);
		return 0;
	}
	if (m->listen_loopback)
		return 0;
	if (!cfg->insecure) {
		dsm_err("refusing to listen on %s without a secret: anyone who "
			"can reach port %u could read and write the whole "
			"segment; give --secret-file FILE (nodes: "
			"DSM_SECRET_FILE=FILE), or --insecure on a network you "
			"trust (docs/SECURITY.md)", m->listen_addr, m->port);
		return -1;
	}
	dsm_warn("listening on %s without a secret (--insecure): anyone who "
		 "can reach port %u can read and write the segment",
		 m->listen_addr, m->port);
	return 0;
}

void mauth_free(struct master *m)
{
	dsm_secret_free(&m->secret);
}

/* Refuse c's join with DSM_EAUTH: one log line, ERROR, close. */
static void auth_refuse(struct master *m, struct mconn *c, const char *why)
{
	char text[DSM_MAX_ERRMSG + 1];

	snprintf(text, sizeof(text), "refusing node %s: %s", c->peer, why);
	dsm_warn("%s", text);
	mio_send_error(m, c, 0, -DSM_EAUTH, text);
	mconn_set_state(m, c, MC_CLOSING);
}

/*
 * c's JOIN? (request id) passed every other check and this master has a
 * secret: send AUTH? and wait for AUTH!.  nonce is the node's
 * DSM_NONCE_LEN bytes, or NULL if its JOIN? had none.
 */
void mauth_challenge(struct master *m, struct mconn *c, uint32_t id,
		     const uint8_t *nonce)
{
	uint8_t *p;

	if (!nonce) {
		auth_refuse(m, c, "this master requires authentication and "
			    "the node sent no nonce (an older build?)");
		return;
	}
	if (dsm_random(c->nonce_master, DSM_NONCE_LEN) < 0) {
		mconn_fail(m, c, DSM_ESYS, "getrandom: %s", strerror(errno));
		return;
	}
	memcpy(c->nonce_node, nonce, DSM_NONCE_LEN);
	p = mio_frame(m, c, K_AUTHQ, id, DSM_NONCE_LEN + DSM_MAC_LEN);
	if (!p)
		return;
	memcpy(p, c->nonce_master, DSM_NONCE_LEN);
	dsm_auth_proof(&m->secret, DSM_AUTH_LABEL_MASTER, c->nonce_node,
		       c->nonce_master, p + DSM_NONCE_LEN);
	c->auth_pending = 1;
	c->join_id = id;
}

/*
 * AUTH! from c (DSM_MAC_LEN bytes, checked with the header): admit the node
 * if its proof is right, else refuse it.
 */
void mauth_answer(struct master *m, struct mconn *c, const uint8_t *mac)
{
	uint8_t want[DSM_MAC_LEN];
	int ok;

	dsm_auth_proof(&m->secret, DSM_AUTH_LABEL_NODE, c->nonce_master,
		       c->nonce_node, want);
	ok = dsm_ct_equal(want, mac, DSM_MAC_LEN);
	explicit_bzero(want, sizeof(want));
	c->auth_pending = 0;
	if (!ok) {
		auth_refuse(m, c, "wrong proof of the secret (its secret file "
			    "differs from this master's)");
		return;
	}
	mdisp_admit(m, c, c->join_id);
}
