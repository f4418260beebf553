// Package references answers for catalogs that other directories serve (issue 16,
// directory.federation.references): a directory that references catalog C sends each
// request for /r/C/…, /t/C/…, /m/C/… (302, RFC 9110 section 15.4.3) and
// /api/v1/artifacts/C/… (307, section 15.4.8, so that the method is kept) on to a healthy
// directory serving C in the user's region, and lists C with where it lives. A
// directory holding only references is a meta-directory: one address for users, many
// directories behind it.
//
// Each referenced directory is checked every CheckInterval: GET /readyz must answer 200
// and, with an index key, its signed index (internal/index) must verify, be unexpired and
// list C. One failed check takes a directory out of rotation at once (a user sent to a
// dead directory has nothing to fall back on); two passes in a row bring it back, so one
// lucky answer of a flapping directory does not. With the defaults (3 s, 2 s timeout) a
// directory that dies is out within 5 s and one that returns is back within 6 s plus its
// answer time. The first check after start needs one pass.
//
// Choosing is pure (Choose): a directory whose regions name the user's country, else
// their continent, else one marked default, else any healthy one; among equals, the
// highest rendezvous hash of the user's address and the directory's URL (RFC 2991's
// highest-random-weight idea), so a user keeps to one directory and a directory that dies
// moves only its own users. When none is healthy the answer is a 503 problem with
// Retry-After of one check interval.
package references
