// Package history keeps a directory's recent past for its charts: per interval (a
// minute), the bytes its origin sent, the bytes its relays served, the redirects it
// answered and the announces its tracker answered, and the demand of its busiest
// artifacts, over the last day, in rings of fixed size; and their file, so that a
// restart keeps them.
//
// The counters it is given are monotonic totals (a process's own, or sums the catalog
// keeps); it records their differences from one sample to the next, and a total that went
// down as one that restarted from zero (the rule of Prometheus's rate()).
package history
