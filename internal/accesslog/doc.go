// Package accesslog writes one line per HTTP request in the Combined Log Format of Apache
// and NCSA (host ident authuser [date] "request" status bytes "referer" "user-agent"),
// which log analysers (GoAccess, AWStats) and fail2ban read as they are.
//
// Lines go through a buffer flushed within a second, under one mutex, so that a request
// costs a formatted line and a short lock rather than a write to disk. A file is opened
// for appending and can be reopened (Reopen) after logrotate moves it. Bytes a client
// chose (the request line, Referer, User-Agent) are escaped as Apache escapes them, so
// that no client can write a line of its own into the log.
package accesslog
