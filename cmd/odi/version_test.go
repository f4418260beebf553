package main

import (
	"bytes"
	"context"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	output := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRootCmd(&out, &errOut)
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("odi %v: %v (stderr %q)", args, err, errOut.String())
		}
		return out.String()
	}
	flag, sub := output("--version"), output("version")
	if want := "odi version " + buildVersion() + "\n"; flag != want {
		t.Errorf("odi --version printed %q, want %q", flag, want)
	}
	if sub != flag {
		t.Errorf("odi version printed %q, odi --version %q; want the same", sub, flag)
	}
	if err := run(context.Background(), []string{"version", "extra"}); codeOf(err) != exitUsage {
		t.Errorf("odi version extra: %v, want a usage error", err)
	}
}
