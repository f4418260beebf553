package jsonstrict

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is returned (wrapped, with what and where) when data is not exactly one JSON
// value that decodes into the target without ambiguity.
var ErrInvalid = errors.New("invalid JSON")

// MaxDepth bounds the nesting of objects and arrays. odi's messages nest five deep at
// most (a plan's items' files: {"fetch":[{"files":[{...}]}]}); the bound keeps the
// walk's recursion small.
const MaxDepth = 32

// Decode decodes the one JSON value in data into v, a non-nil pointer, as encoding/json
// would with DisallowUnknownFields, once the value passed these checks:
//
//   - data is valid UTF-8, and every \u escape of a UTF-16 surrogate is half of a pair;
//   - no object has two keys that are equal, or equal ignoring case as encoding/json
//     matches field names (whatever the target: a map or an any value too);
//   - every key of an object decoded into a struct names one of its fields exactly;
//   - null only where Go keeps it apart from a value: for pointers, interfaces, maps,
//     slices and types that decode themselves;
//   - objects and arrays nest at most MaxDepth deep;
//   - nothing but white space follows the value.
//
// Errors wrap ErrInvalid and name the place, as a path from $ (the value) and a byte
// offset. A v that is not a non-nil pointer is the caller's bug, reported as
// *json.InvalidUnmarshalError.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &json.InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrInvalid, invalidUTF8(data))
	}
	if err := checkSurrogates(data); err != nil {
		return err
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(data)), fields: map[reflect.Type]*fieldSet{}}
	w.dec.UseNumber() // numbers are checked by the final decode, into their real types
	if err := w.value(rv.Type().Elem(), nil, 0); err != nil {
		return err
	}
	end := w.dec.InputOffset()
	if tok, err := w.dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the value, which ends at byte %d (%v)", ErrInvalid, end, firstOf(tok, err))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// invalidUTF8 is the offset of the first byte of data that is not valid UTF-8.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// checkSurrogates refuses a \u escape of a UTF-16 surrogate that is not half of a pair:
// encoding/json decodes it as U+FFFD, so "\ud800" and "\udfff" would be one string to Go
// and two, or an error, to others. It looks only at strings; the walk finds other errors.
func checkSurrogates(data []byte) error {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\':
			r, ok := escapedRune(data[i:])
			if !ok {
				i++ // a two-byte escape, or a broken one the walk will report
				continue
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Errorf("%w: unpaired surrogate escape at byte %d", ErrInvalid, i)
			case r >= 0xD800 && r <= 0xDBFF:
				if lo, ok := escapedRune(data[i+6:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf("%w: unpaired surrogate escape at byte %d", ErrInvalid, i)
				}
				i += 6
			}
			i += 5
		}
	}
	return nil
}

// escapedRune decodes a \uXXXX escape at the start of b.
func escapedRune(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

// walker reads tokens of one value with the Go type they will decode into, where known.
type walker struct {
	dec    *json.Decoder
	fields map[reflect.Type]*fieldSet // per Decode: no state outlives a call
}

// loc is a place in the value, for messages: a key of an object or an index of an array.
type loc struct {
	parent *loc
	key    string
	index  int
	isIdx  bool // index, not key
}

func (l *loc) String() string {
	var parts []*loc
	for ; l != nil; l = l.parent {
		parts = append(parts, l)
	}
	var b strings.Builder
	b.WriteByte('$')
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; p.isIdx {
			fmt.Fprintf(&b, "[%d]", p.index)
		} else if isPlainKey(p.key) {
			b.WriteString("." + p.key)
		} else {
			fmt.Fprintf(&b, "[%q]", p.key)
		}
	}
	return b.String()
}

func isPlainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

func firstOf(tok json.Token, err error) any {
	if err != nil {
		return err
	}
	return tok
}

// value walks one value that decodes into t (nil: unknown, nothing to check but shape).
func (w *walker) value(t reflect.Type, at *loc, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(at, err)
	}
	nullable, t := resolve(t)
	switch tok {
	case nil:
		if !nullable {
			return fmt.Errorf("%w: null at %s, where a %s is expected", ErrInvalid, at, t)
		}
		return nil
	case json.Delim('{'), json.Delim('['):
		if depth >= MaxDepth {
			return fmt.Errorf("%w: nested deeper than %d at %s", ErrInvalid, MaxDepth, at)
		}
		if tok == json.Delim('{') {
			return w.object(t, at, depth+1)
		}
		return w.array(t, at, depth+1)
	}
	return nil
}

func (w *walker) array(t reflect.Type, at *loc, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(elem, &loc{parent: at, index: i, isIdx: true}, depth); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // ]
		return w.syntax(at, err)
	}
	return nil
}

func (w *walker) object(t reflect.Type, at *loc, depth int) error {
	var fs *fieldSet
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fs = w.fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]string{} // folded key: key as written
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return w.syntax(at, err)
		}
		key := tok.(string) // Token returns an object's keys as strings, or an error
		folded := foldName(key)
		if prev, dup := seen[folded]; dup {
			if prev == key {
				return fmt.Errorf("%w: duplicate key %q in %s, byte %d", ErrInvalid, key, at, w.dec.InputOffset())
			}
			return fmt.Errorf("%w: keys %q and %q in %s differ only in case, byte %d", ErrInvalid, prev, key, at, w.dec.InputOffset())
		}
		seen[folded] = key
		vt := elem
		if fs != nil {
			f, ok := fs.exact[key]
			if !ok {
				if name, ok := fs.folded[folded]; ok {
					return fmt.Errorf("%w: key %q in %s must be spelled %q, byte %d", ErrInvalid, key, at, name, w.dec.InputOffset())
				}
				return fmt.Errorf("%w: unknown field %q in %s, byte %d", ErrInvalid, key, at, w.dec.InputOffset())
			}
			vt = f
		}
		if err := w.value(vt, &loc{parent: at, key: key}, depth); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // }
		return w.syntax(at, err)
	}
	return nil
}

// syntax wraps an error of the decoder, which is about the bytes, at a place.
func (w *walker) syntax(at *loc, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: at %s, byte %d: %w", ErrInvalid, at, w.dec.InputOffset(), err)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// resolve is what a value decoding into t looks like: whether null is a value of its own
// there, and the type whose shape to check (nil when t decodes itself or is unknown).
func resolve(t reflect.Type) (nullable bool, shape reflect.Type) {
	if t == nil {
		return true, nil
	}
	for t.Kind() == reflect.Pointer {
		nullable = true
		t = t.Elem()
	}
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true, nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return true, nil
	case reflect.Map, reflect.Slice:
		return true, t
	}
	return nullable, t
}
