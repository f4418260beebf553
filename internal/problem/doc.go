// Package problem writes HTTP error answers as RFC 9457 problem details
// (application/problem+json), the one form every error of the directory and the relays
// takes, so that clients read a status and a sentence the same way everywhere.
package problem
