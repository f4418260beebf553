package jsonstrict

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

type inner struct {
	A int    `json:"a"`
	S string `json:"s"`
}

type outer struct {
	Name  string          `json:"name"`
	Items []inner         `json:"items"`
	M     map[string]int  `json:"m"`
	P     *inner          `json:"p"`
	Any   any             `json:"any"`
	Raw   json.RawMessage `json:"raw"`
	When  time.Time       `json:"when"`
	D     time.Duration   `json:"d"`
}

func TestDecode(t *testing.T) {
	nest := func(n int) string { return `{"any":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	tests := []struct {
		name, in string
		want     string // a part of the error message, or "" for accepted
	}{
		{"full", `{"name":"x","items":[{"a":1,"s":"y"}],"m":{"k":1,"K2":2},"p":{"a":2},"any":{"x":[1,2.5e3]},"raw":{"q":1},"when":"2024-01-02T03:04:05Z","d":5}`, ""},
		{"empty object", `{}`, ""},
		{"white space after", "{\"name\":\"x\"} \n\t", ""},
		{"nulls where Go keeps them apart", `{"items":null,"m":null,"p":null,"any":null,"raw":null}`, ""},
		{"paired surrogates", `{"name":"\ud83d\ude00"}`, ""},
		{"escaped backslash then u", `{"name":"\\ud800"}`, ""},
		{"deepest allowed", nest(MaxDepth - 1), ""},

		{"empty input", ``, "at $, byte 0: unexpected EOF"},
		{"truncated", `{"name":`, "unexpected EOF"},
		{"not json", `nope`, "invalid character"},
		{"unclosed array", `{"any":[1`, "at $.any, byte 9: unexpected EOF"},
		{"unclosed object", `{"name":"x"`, "at $, byte 11: unexpected EOF"},
		{"trailing comma in an object", `{"name":"x",}`, "invalid character '}'"},
		{"trailing comma in an array", `{"any":[1,]}`, "invalid character ']'"},
		{"number as a key", `{1:2}`, "invalid character '1'"},
		{"duplicate key", `{"name":"a","name":"b"}`, `duplicate key "name" in $`},
		{"duplicate through an escape", `{"name":"a","\u006eame":"b"}`, `duplicate key "name" in $`},
		{"case twins", `{"name":"a","NAME":"b"}`, `keys "name" and "NAME" in $ differ only in case`},
		{"kelvin twin in a map", `{"m":{"k":1,"\u212a":2}}`, "keys \"k\" and \"\u212a\" in $.m differ only in case"},
		{"long s twin in a map", `{"m":{"s":1,"ſ":2}}`, `in $.m differ only in case`},
		{"duplicate deep", `{"items":[{"a":1},{"a":1,"a":2}]}`, `duplicate key "a" in $.items[1]`},
		{"duplicate in any", `{"any":{"x":{"y":1,"y":2}}}`, `duplicate key "y" in $.any.x`},
		{"duplicate in raw", `{"raw":{"x":1,"x":2}}`, `duplicate key "x" in $.raw`},
		{"duplicate odd key path", `{"any":{"a b":{"y":1,"y":2}}}`, `in $.any["a b"]`},
		{"case variant of a field", `{"NAME":"x"}`, `key "NAME" in $ must be spelled "name"`},
		{"long s variant of a field", `{"items":[{"ſ":"x"}]}`, `key "ſ" in $.items[0] must be spelled "s"`},
		{"unknown field", `{"nope":1}`, `unknown field "nope" in $`},
		{"unknown deep", `{"p":{"b":1}}`, `unknown field "b" in $.p`},
		{"object after", `{"name":"x"} {}`, "data after the value, which ends at byte 12 ({)"},
		{"garbage after", `{"name":"x"}x`, "data after the value"},
		{"bracket after", `{"name":"x"}]`, "data after the value"},
		{"invalid utf-8", "{\"name\":\"\xff\"}", "invalid UTF-8 at byte 9"},
		{"overlong utf-8", "{\"name\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 9"},
		{"lone high surrogate", `{"name":"\ud800"}`, "unpaired surrogate escape at byte 9"},
		{"lone low surrogate", `{"name":"a\udc00"}`, "unpaired surrogate escape at byte 10"},
		{"high then not low", `{"name":"\ud800\u0041"}`, "unpaired surrogate escape"},
		{"surrogate in a key", `{"\udbff":1}`, "unpaired surrogate escape at byte 2"},
		{"null value", `null`, "null at $, where a jsonstrict.outer is expected"},
		{"null string", `{"name":null}`, "null at $.name, where a string is expected"},
		{"null struct element", `{"items":[null]}`, "null at $.items[0], where a jsonstrict.inner is expected"},
		{"null number", `{"d":null}`, "null at $.d, where a time.Duration is expected"},
		{"null map value", `{"m":{"k":null}}`, `null at $.m.k, where a int is expected`},
		{"too deep", nest(MaxDepth), "nested deeper than 32 at $.any"},
		{"wrong type", `{"name":1}`, "cannot unmarshal number"},
		{"fraction into int", `{"items":[{"a":1.5}]}`, "cannot unmarshal number 1.5"},
		{"number too big for any", `{"any":1e400}`, "cannot unmarshal number 1e400"},
		{"top level array", `[]`, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v outer
			err := Decode([]byte(tt.in), &v)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Decode(%q) = %v, want nil", tt.in, err)
			case tt.want != "" && err == nil:
				t.Errorf("Decode(%q) = nil, want an error containing %q", tt.in, tt.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Errorf("Decode(%q) = %v, not ErrInvalid", tt.in, err)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Decode(%q) = %v, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestDecodeValue(t *testing.T) {
	var got outer
	in := `{"name":"x","items":[{"a":1,"s":"y"}],"m":{"k":1},"p":{"a":2},"d":5}`
	if err := Decode([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := outer{Name: "x", Items: []inner{{A: 1, S: "y"}}, M: map[string]int{"k": 1}, P: &inner{A: 2}, D: 5}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
}

func TestDecodeTarget(t *testing.T) {
	var v outer
	for _, target := range []any{nil, v, (*outer)(nil)} {
		var iue *json.InvalidUnmarshalError
		if err := Decode([]byte(`{}`), target); !errors.As(err, &iue) || errors.Is(err, ErrInvalid) {
			t.Errorf("Decode into %T = %v, want *json.InvalidUnmarshalError", target, err)
		}
	}
}

type Base struct {
	ID string `json:"id"`
}

type named struct{ N int }
type other struct{ N int }

type embedding struct {
	Base
	X      int `json:"x"`
	Y      int
	Hidden int `json:"-"`
	//lint:ignore SA5008 a field named "-", as encoding/json documents
	Dash int `json:"-,"`
	//lint:ignore SA5008 a tag name encoding/json ignores, so the field is "Bad"
	Bad int `json:"a\\b"`
	//lint:ignore U1000 an unexported field, which is no JSON name
	inner int
	named // N, tied with other's N at one depth: neither is a field
	other
	*Tagged // t
	deep    // T, two levels down: a name apart from Tagged's "t"
}

type Tagged struct {
	T int `json:"t"`
}

type deep struct{ Tee }

type Tee struct{ T int }

func TestTypeFields(t *testing.T) {
	var names []string
	for _, f := range typeFields(reflect.TypeFor[embedding]()) {
		names = append(names, f.name)
	}
	slices.Sort(names)
	want := []string{"-", "Bad", "T", "Y", "id", "t", "x"}
	if !slices.Equal(names, want) {
		t.Fatalf("typeFields = %q, want %q", names, want)
	}
	// What typeFields finds is what encoding/json fills.
	for _, in := range []string{`{"id":"a"}`, `{"x":1}`, `{"Y":1}`, `{"-":1}`, `{"Bad":1}`, `{"t":1}`, `{"T":1}`} {
		var v embedding
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatalf("encoding/json: %s: %v", in, err)
		}
		if err := Decode([]byte(in), &v); err != nil {
			t.Errorf("Decode(%s) = %v", in, err)
		}
	}
	for _, in := range []string{`{"N":1}`, `{"Hidden":1}`, `{"inner":1}`, `{"Base":{}}`} {
		var v embedding
		if err := Decode([]byte(in), &v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid", in, err)
		}
		dec := json.NewDecoder(strings.NewReader(in))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err == nil {
			t.Errorf("encoding/json accepts %s, which Decode refuses", in)
		}
	}
}

func TestFoldName(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"size", "SIZE"}, {"size", "ſize"}, {"k", "\u212a"}, {"straße", "STRAẞE"},
	} {
		if foldName(tt.a) != foldName(tt.b) {
			t.Errorf("foldName(%q) != foldName(%q)", tt.a, tt.b)
		}
	}
	if foldName("a_b") == foldName("ab") {
		t.Error("foldName ignores underscores")
	}
}

// FuzzDecode checks that what Decode accepts, encoding/json decodes alike, and that a
// value encoding/json writes back is accepted again.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","items":[{"a":1,"s":"y"}],"m":{"k":1},"p":{"a":2},"any":{"x":[1,2]},"raw":{"q":1},"d":5}`,
		`{"name":"a","name":"b"}`, `{"name":"a","NAME":"b"}`, `{"m":{"k":1,"\u212a":2}}`,
		`{"name":"\ud800"}`, `{"name":"x"} {}`, `{"any":[[[[]]]]}`, `{"name":null}`,
		"{\"name\":\"\xff\"}", `{"items":[{"ſ":"x"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v outer
		err := Decode(data, &v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) = %v, not ErrInvalid", data, err)
			}
		} else {
			var w outer
			if err := json.Unmarshal(data, &w); err != nil {
				t.Fatalf("Decode(%q) accepted what encoding/json refuses: %v", data, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("Decode(%q) = %+v, encoding/json %+v", data, v, w)
			}
		}
		var a any
		if Decode(data, &a) != nil {
			return
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal %#v: %v", a, err)
		}
		var b any
		if err := Decode(out, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("Decode(%q) = %#v; written back as %q, Decode = %#v, %v", data, a, out, b, err)
		}
	})
}
