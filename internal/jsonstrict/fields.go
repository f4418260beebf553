package jsonstrict

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fieldSet is the JSON names of a struct's fields as encoding/json sees them.
type fieldSet struct {
	exact  map[string]reflect.Type // name: the field's type
	folded map[string]string       // foldName(name): name
}

// fieldsOf is t's fieldSet, computed once per Decode call.
func (w *walker) fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := w.fields[t]; ok {
		return fs
	}
	fs := &fieldSet{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	for _, f := range typeFields(t) {
		fs.exact[f.name] = f.typ
		fs.folded[foldName(f.name)] = f.name
	}
	w.fields[t] = fs
	return fs
}

type field struct {
	name   string
	tagged bool
	depth  int
	typ    reflect.Type
}

// typeFields follows encoding/json's (encode.go): exported fields by tag name or Go name,
// "-" skipped, untagged embedded structs flattened breadth first, each type once. Of
// fields with one name, the shallowest wins, then a tagged one; a tie hides the name.
func typeFields(t reflect.Type) []field {
	var fields []field
	next := []reflect.Type{t}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for depth := 0; len(next) > 0; depth++ {
		current := next
		next = nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, ct := range current {
			if visited[ct] {
				continue
			}
			visited[ct] = true
			for i := range ct.NumField() {
				sf := ct.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if !validTag(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					nextCount[ft]++
					if nextCount[ft] == 1 {
						next = append(next, ft)
					}
					continue
				}
				f := field{name: name, tagged: name != "", depth: depth, typ: sf.Type}
				if f.name == "" {
					f.name = sf.Name
				}
				fields = append(fields, f)
				if count[ct] > 1 {
					// The type is embedded twice at this depth: its fields tie.
					fields = append(fields, f)
				}
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(a.depth, b.depth); c != 0 {
			return c
		}
		switch {
		case a.tagged == b.tagged:
			return 0
		case a.tagged:
			return -1
		}
		return 1
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		if j-i == 1 || fields[i].depth != fields[i+1].depth || fields[i].tagged != fields[i+1].tagged {
			out = append(out, fields[i])
		}
		i = j
	}
	return out
}

// validTag is encoding/json's isValidTag: a tag name of other characters is ignored.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// foldName is encoding/json's (fold.go): two names match a field alike exactly when they
// fold alike. ASCII letters fold to upper case, other runes to the smallest rune of their
// simple case folding orbit, so "K", "k" and the Kelvin sign U+212A are one.
func foldName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, foldRune(r))
		i += n
	}
	return string(b)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
