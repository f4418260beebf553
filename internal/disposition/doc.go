// Package disposition writes the Content-Disposition (RFC 6266, with RFC 8187 filename*)
// of the files odi serves: the origin's and relays' file answers, torrents and metalinks,
// so that `curl -OJ` and `wget --content-disposition` save them under their own names.
package disposition
