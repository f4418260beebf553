package disposition

import (
	"mime"
	"testing"
)

func TestAttachment(t *testing.T) {
	tests := []struct{ name, want string }{
		{"debian-12.5.0-amd64-netinst.iso", `attachment; filename="debian-12.5.0-amd64-netinst.iso"`},
		{"a b;c=d,e.txt", `attachment; filename="a b;c=d,e.txt"`},
		{"c#d%41'.txt", `attachment; filename="c#d%41'.txt"`},
		{"café.iso", `attachment; filename="cafe.iso"; filename*=UTF-8''caf%C3%A9.iso`},
		{"Jürgen's Ærø.iso", `attachment; filename="Jurgen's _r_.iso"; filename*=UTF-8''J%C3%BCrgen%27s%20%C3%86r%C3%B8.iso`},
		{"日本.iso", `attachment; filename="__.iso"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.iso`},
		// Names never hold these (names.CheckComponent), but a header must not break on them.
		{`a"b\c` + "\r\n.txt", `attachment; filename="a_b_c__.txt"; filename*=UTF-8''a%22b%5Cc%0D%0A.txt`},
	}
	for _, tt := range tests {
		got := Attachment(tt.name)
		if got != tt.want {
			t.Errorf("Attachment(%q) = %s; want %s", tt.name, got, tt.want)
		}
		// Go's own parser (RFC 2231/8187 aware) reads the exact name back.
		if typ, params, err := mime.ParseMediaType(got); err != nil || typ != "attachment" || params["filename"] != tt.name {
			t.Errorf("mime.ParseMediaType(%s) = %q, %q, %v; want attachment naming %q", got, typ, params["filename"], err, tt.name)
		}
	}
}
