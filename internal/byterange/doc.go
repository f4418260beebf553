// Package byterange reads HTTP Range headers (RFC 9110 section 14) in front of
// http.ServeContent, whose parser answers a suffix of zero bytes ("bytes=-0", or any
// suffix of empty content) 206 with a Content-Range that ends before it starts, and
// honours any number of ranges. Here those are 416 Range Not Satisfiable with
// "Content-Range: bytes */SIZE" and an RFC 9457 problem body, as are malformed ranges.
// For clients, ParseContentRange reads a 206's Content-Range (RFC 9110 section 14.4).
package byterange
