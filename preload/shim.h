/*
 * shim.h - private to the preload shim (preload/shim*.c), the thin skin of
 * libdsm_preload.so.  It decides "is this call about the DSM segment?" and
 * hands it to the node runtime; everything else goes to glibc.
 *
 * State is set once when the segment is attached (lazily, on the first
 * shm_open of the segment's name or mmap into its range) and never changes
 * afterwards, so the hot check is two plain loads and a compare.
 */
#ifndef DSM_SHIM_H
#define DSM_SHIM_H

#include <stddef.h>
#include <stdint.h>

struct segment;

/* Non-zero when DSM_MASTER is set: the shim is active in this process. */
extern int shim_active;
/* The attached segment (NULL before the first use). */
extern struct segment *shim_seg;
extern uintptr_t shim_base;
extern size_t shim_size;

/*
 * The real function behind an interposed name: dlsym(RTLD_NEXT) once, or
 * dlvsym for the names glibc versions (pthread_cond_*).  Never NULL: a
 * missing symbol ends the process with a message.
 */
void *shim_real(const char *name, const char *version);

/* The cached pointer in *slot, resolved on first use (also before our
 * constructor ran, when another library's constructor calls us). */
static inline void *shim_fn(void *slot, const char *name, const char *ver)
{
	void **p = slot;

	if (__builtin_expect(*p == NULL, 0))
		*p = shim_real(name, ver);
	return *p;
}
#define REAL(fn) ((__typeof__(&fn))shim_fn(&real_##fn, #fn, NULL))
#define REALV(fn, ver) ((__typeof__(&fn))shim_fn(&real_##fn, #fn, ver))

/* Is [p, p+len) inside the segment?  Sets *off.  The hot path. */
static inline int shim_obj(const void *p, size_t len, size_t *off)
{
	uintptr_t a = (uintptr_t)p - shim_base;

	if (__builtin_expect(a >= shim_size, 1) || len > shim_size - a)
		return 0;
	*off = (size_t)a;
	return 1;
}

/*
 * Attach to $DSM_MASTER if not yet done.  On failure the process ends with
 * the runtime's error line: an unmodified program has no way to handle it.
 */
void shim_attach(void);

/* Could `addr` be inside the segment (before it is attached: near the
 * expected base)?  Attaches if so and returns 1 when it is. */
int shim_range_claims(const void *addr);

/* Does this POSIX shm name designate the segment? (first use claims it
 * when DSM_SHM is unset) */
int shim_name_is_segment(const char *name);

#endif
