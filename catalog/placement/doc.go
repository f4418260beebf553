// Package placement decides which relay holds which artifact: given the relays (quota,
// catalog filter, region, health, what they hold now) and the artifacts (size, decayed
// demand, expunged or not), Plan tells each relay what to fetch, keep, may drop and must
// delete.
//
// It is pure: no I/O, no clock, no globals; the same input gives the same plan, whatever
// the order of the input slices. The directory calls it on every heartbeat round and puts
// the result on the wire.
//
// The plan covers first (one healthy replica for as many demanded artifacts as the relays
// can hold, densest demand per byte first, which is the fractional-knapsack greedy), then
// adds replicas in proportion to each artifact's share of demand. Copies a relay already
// holds are worth Config.Hysteresis times more than copies it would have to fetch, so a
// small change in demand moves few bytes.
//
// What quota demand leaves free is filled with spare copies (unless Config.NoSpareFill):
// a copy of every artifact that has none, then more replicas of demanded artifacts, then
// of artifacts nobody has asked for yet, so that donated bytes are used and a new artifact
// can be on relays before its first users. Spare copies take only room demand does not
// want and give it up first. A relay keeps one while it fits, so a round with unchanged
// input moves nothing, unless it is an extra copy and an artifact without any needs the
// room.
package placement
