// Package jsonstrict decodes JSON that is signed or otherwise trusted for what it says,
// so it must say one thing to every reader (RFC 8259 §4 leaves duplicate names' meaning
// to each implementation; RFC 7493, I-JSON, forbids them). Decode refuses duplicate
// object keys, keys encoding/json would match to a field only case-insensitively, unknown
// fields, null where Go would silently keep a zero value, invalid UTF-8 and lone UTF-16
// surrogate escapes (which encoding/json silently replaces), trailing data and deep
// nesting, before encoding/json decodes the value.
package jsonstrict
