// Package version orders version strings, so "latest" means the highest version rather
// than the last one published.
//
// Compare follows Debian's dpkg ordering (deb-version(7), verrevcmp in dpkg's
// lib/dpkg/version.c): an optional numeric "epoch:" is compared first, then the rest is
// read as alternating runs of non-digits and digits. Non-digit runs compare character by
// character with "~" before everything (even the end of the string), the end next, then
// letters, then every other character; digit runs compare as numbers of any length. So
// 1.10 > 1.9, 12.5.0 > 12.4.10, 1.0~beta < 1.0, 20240115 > 20231231, 24.04 > 22.04.5 and
// 1:1.0 > 2.0.
//
// Three rules bring Semantic Versioning 2.0.0 in:
//   - a leading "v" or "V" before a digit is ignored: v1.2 equals 1.2;
//   - build metadata, from the first "+" on, is ignored (semver §10), which also makes
//     Debian's 1.0+deb12u1 equal to 1.0;
//   - a "-" followed by a pre-release word (rc, alpha, beta, pre, dev, a or b, in any case)
//     and then only digits and dots to the end reads as "~", so a pre-release sorts before
//     its release: 2.0.0-rc1 < 2.0.0-rc2 < 2.0.0 < 2.0.1.
//
// Numbers compare by value, so 1.0 equals 1.00 (as in dpkg), while 1.0 < 1.0.0 because the
// longer one has more to compare. Compare is a total preorder: versions it calls equal are
// ordered by Newer, which everything resolving "latest" uses: the later publish wins.
package version
