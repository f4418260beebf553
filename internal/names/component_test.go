package names

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckComponent(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // a part of the error message, or "" for accepted
	}{
		{"ascii", "README.md", ""},
		{"hidden", ".gitignore", ""},
		{"inner space", "user guide.txt", ""},
		{"latin accents NFC", "caf\u00e9", ""},
		{"cyrillic word, latin extension", "отчёт.pdf", ""},
		{"cyrillic and latin words", "отчёт-2024-final.pdf", ""},
		{"greek", "αβγ.txt", ""},
		{"japanese", "日本語のファイル.txt", ""},
		{"japanese with latin in a word", "第1章intro.txt", ""},
		{"chinese with bopomofo", "注音ㄅㄆㄇ.txt", ""},
		{"korean with han", "한국어漢字.txt", ""},
		{"arabic", "ملف.txt", ""},
		{"emoji", "🎉.txt", ""},
		{"micro sign", "5µm.txt", ""},
		{"arabic digits", "ملف٣.txt", ""},
		{"com10 is no device", "COM10", ""},
		{"console is no device", "console.log", ""},
		{"auxiliary is no device", "auxiliary", ""},
		{"lpt with a letter", "LPTX", ""},
		{"max length", strings.Repeat("a", MaxComponentLen), ""},

		{"empty", "", "empty path component"},
		{"dot", ".", `path component "."`},
		{"dot dot", "..", `path component ".."`},
		{"too long", strings.Repeat("a", MaxComponentLen+1), "longer than 255 bytes"},
		{"invalid utf-8", "a\xffb", "not valid UTF-8"},
		{"slash", "a/b", "the separator '/'"},
		{"backslash", `a\b`, `the separator '\\'`},
		{"nul", "a\x00b", "control character U+0000"},
		{"newline", "a\nb", "control character U+000A"},
		{"del", "a\x7fb", "control character U+007F"},
		{"c1 control", "a\u0085b", "control character U+0085"},
		{"less than", "a<b", "'<', which Windows forbids"},
		{"greater than", "a>b", "'>', which Windows forbids"},
		{"colon", "C:x", "':', which Windows forbids"},
		{"quote", `a"b`, `'"', which Windows forbids`},
		{"pipe", "a|b", "'|', which Windows forbids"},
		{"question mark", "a?b", "'?', which Windows forbids"},
		{"star", "a*b", "'*', which Windows forbids"},
		{"rlo override", "invoice\u202Etxt.exe", "bidirectional control U+202E at byte 7"},
		{"lre embedding", "\u202Aa", "bidirectional control U+202A"},
		{"pdf", "a\u202C", "bidirectional control U+202C"},
		{"rli isolate", "a\u2067b", "bidirectional control U+2067"},
		{"pdi", "a\u2069b", "bidirectional control U+2069"},
		{"lrm", "a\u200Eb", "bidirectional control U+200E"},
		{"rlm", "a\u200Fb", "bidirectional control U+200F"},
		{"alm", "a\u061Cb", "bidirectional control U+061C"},
		{"zero-width space", "pay\u200Bpal", "invisible character U+200B"},
		{"zwnj", "a\u200Cb", "invisible character U+200C"},
		{"zwj", "a\u200Db", "invisible character U+200D"},
		{"word joiner", "a\u2060b", "invisible character U+2060"},
		{"bom", "\uFEFFa", "invisible character U+FEFF"},
		{"soft hyphen", "pay\u00ADpal", "invisible character U+00AD"},
		{"variation selector", "a\uFE0F", "invisible character U+FE0F"},
		{"variation selector supplement", "a\U000E0100", "invisible character U+E0100"},
		{"tag character", "a\U000E0041", "invisible character U+E0041"},
		{"hangul filler", "a\u3164b", "invisible character U+3164"},
		{"combining grapheme joiner", "a\u034Fb", "invisible character U+034F"},
		{"mongolian vowel separator", "a\u180Eb", "invisible character U+180E"},
		{"no-break space", "a\u00A0b", "U+00A0, a space other than U+0020"},
		{"ideographic space", "a\u3000b", "U+3000, a space other than U+0020"},
		{"line separator", "a\u2028b", "U+2028, a space other than U+0020"},
		{"private use", "a\uE000", "private-use character U+E000"},
		{"supplementary private use", "a\U000F0000", "private-use character U+F0000"},
		{"noncharacter fdd0", "a\uFDD0", "noncharacter U+FDD0"},
		{"noncharacter fffe", "a\uFFFE", "noncharacter U+FFFE"},
		{"noncharacter 1ffff", "a\U0001FFFF", "noncharacter U+1FFFF"},
		{"unassigned", "a\u0378", "U+0378, unassigned in Unicode"},
		{"unassigned plane 3", "a\U00040000x", "unassigned"},
		{"nfd twin", "cafe\u0301", `not in Unicode NFC; its NFC form is "café"`},
		{"nfd hangul", "\u1100\u1161", "not in Unicode NFC"},
		{"cjk compatibility ideograph", "\uF900", "not in Unicode NFC"},
		{"leading combining mark", "\u0301a", "starts with combining mark U+0301"},
		{"leading space", " a", "starts with a space"},
		{"trailing dot", "a.", "ends with a dot or space"},
		{"trailing dots", "...", "ends with a dot or space"},
		{"trailing space", "a ", "ends with a dot or space"},
		{"con", "CON", "the Windows device CON"},
		{"con lower", "con", "the Windows device CON"},
		{"con mixed case with extension", "cOn.txt", "the Windows device CON"},
		{"con two extensions", "con.tar.gz", "the Windows device CON"},
		{"con space extension", "CON .txt", "the Windows device CON"},
		{"prn", "prn", "the Windows device PRN"},
		{"aux", "Aux.c", "the Windows device AUX"},
		{"nul", "NUL", "the Windows device NUL"},
		{"com0", "COM0", "the Windows device COM0"},
		{"com1", "com1.log", "the Windows device COM1"},
		{"com9", "COM9", "the Windows device COM9"},
		{"lpt0", "lpt0", "the Windows device LPT0"},
		{"lpt9", "LPT9.txt", "the Windows device LPT9"},
		{"com superscript one", "COM\u00b9", "the Windows device COM\u00b9"},
		{"lpt superscript two", "lpt\u00b2.txt", "the Windows device LPT\u00b2"},
		{"com superscript three", "com\u00b3", "the Windows device COM\u00b3"},
		{"conin", "CONIN$", "the Windows device CONIN$"},
		{"conout", "conout$.x", "the Windows device CONOUT$"},
		{"latin word with cyrillic a", "p\u0430ypal.exe", "mixes scripts Latin and Cyrillic in one word (U+0430 at byte 1 is Cyrillic)"},
		{"cyrillic word with latin o", "\u043F\u0440\u0438\u0432\u0435\u0442o", "mixes scripts Cyrillic and Latin"},
		{"latin word with greek omicron", "micr\u03BFsoft", "mixes scripts Latin and Greek"},
		{"greek mu in a latin word", "5\u03BCm.txt", "mixes scripts Greek and Latin"},
		{"latin with cyrillic in extension", "setup.\u0435xe", "mixes scripts Cyrillic and Latin"},
		{"han with cyrillic", "漢字\u0434", "mixes scripts Han and Cyrillic"},
		{"hangul with hiragana", "한ひ", "mixes scripts Hangul and Hiragana"},
		{"fullwidth and ascii digits", "v1\uFF10", "mixes digits of different numbering systems (U+FF10 at byte 2)"},
		{"arabic-indic and persian digits", "\u0663\u06F3", "mixes digits of different numbering systems"},
		{"ascii and bengali digits", "1\u09EA", "mixes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckComponent(tt.in)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckComponent(%q) = %v, want nil", tt.in, err)
			case tt.want != "" && err == nil:
				t.Errorf("CheckComponent(%q) = nil, want an error containing %q", tt.in, tt.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Errorf("CheckComponent(%q) = %v, not ErrInvalid", tt.in, err)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("CheckComponent(%q) = %v, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestScriptOf(t *testing.T) {
	for _, tt := range []struct {
		r    rune
		want string
	}{
		{'a', "Latin"}, {'1', "Common"}, {'-', "Common"}, {'é', "Latin"}, {'а', "Cyrillic"},
		{'ο', "Greek"}, {'漢', "Han"}, {'ひ', "Hiragana"}, {'カ', "Katakana"}, {'ー', "Common"},
		{'\u0301', "Inherited"}, {'한', "Hangul"}, {'ㄅ', "Bopomofo"}, {'ب', "Arabic"},
		{0x0378, "Unknown"}, {0x10FFFF, "Unknown"},
	} {
		if got := scriptOf(tt.r); got != tt.want {
			t.Errorf("scriptOf(%U) = %s, want %s", tt.r, got, tt.want)
		}
	}
}

func TestDigitZero(t *testing.T) {
	for _, tt := range []struct{ r, want rune }{
		{'7', '0'}, {'a', -1}, {'\u0663', '\u0660'}, {'\u06F9', '\u06F0'}, {'\uFF15', '\uFF10'},
		{'\U0001D7D9', '\U0001D7D8'}, // mathematical double-struck one: its own system
		{'\u00B2', -1},               // superscript two is No, not Nd
	} {
		if got := digitZero(tt.r); got != tt.want {
			t.Errorf("digitZero(%U) = %U, want %U", tt.r, got, tt.want)
		}
	}
}
