// Package useragent names the plain HTTP clients users fetch artifacts with (curl, Wget,
// aria2, browsers). Whoever checks a relay's bytes (the directory's audits, relays'
// cross-audits) sends one of them at random, so that a relay cannot serve its checkers
// apart from its users by the client they name.
package useragent
