// Package bytesize reads and prints byte counts the way operators write them in config
// files and flags: "10GiB", "512 MiB", "1.5TB" or a plain number of bytes.
package bytesize

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// Size is a number of bytes. It decodes from text (YAML, env, flags) with units:
// IEC (KiB, MiB, GiB, TiB) are powers of 1024, SI (kB, MB, GB, TB) powers of 1000.
type Size int64

// Parse reads a size such as "10GiB" or "4096".
func Parse(s string) (Size, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("parse size %q: %w", s, err)
	}
	if n > 1<<62 {
		return 0, fmt.Errorf("parse size %q: too large", s)
	}
	return Size(n), nil
}

// String prints the size in IEC units, e.g. "10 GiB".
func (s Size) String() string {
	if s < 0 {
		return fmt.Sprintf("%d B", int64(s))
	}
	return humanize.IBytes(uint64(s))
}

// UnmarshalText lets config decoders read sizes with units.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := Parse(string(text))
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// MarshalText writes the size in a form UnmarshalText reads back.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Set and Type make Size a pflag.Value, so flags take "10GiB" too.
func (s *Size) Set(text string) error { return s.UnmarshalText([]byte(text)) }

// Type names the flag's value in --help.
func (*Size) Type() string { return "size" }
