package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// odiOutput runs `odi args...` in process and returns its stdout.
func odiOutput(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("odi %v: %v (stderr %q)", args, err, errOut.String())
	}
	return out.String()
}

// manFlag is how a man page's OPTIONS section names a flag (bold, in roff).
func manFlag(name string) string { return `\fB--` + name + `\fP` }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenDocs(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // 14 Nov 2023
	dir := t.TempDir()
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	odiOutput(t, "gen-docs", "--man", man, "--completions", comp)

	for _, page := range []string{"odi.1", "odi-fetch.1", "odi-admin-publishers-add.1", "odi-completion-bash.1"} {
		if _, err := os.Stat(filepath.Join(man, page)); err != nil {
			t.Errorf("no man page %s: %v", page, err)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "odi-gen-docs.1")); err == nil {
		t.Error("the hidden gen-docs command has a man page")
	}

	fetch := readFile(t, filepath.Join(man, "odi-fetch.1"))
	if want := `.TH "ODI-FETCH" "1" "Nov 2023" "odi ` + buildVersion() + `"`; !strings.Contains(fetch, want) {
		t.Errorf("odi-fetch.1 lacks the header %s; it starts %q", want, fetch[:min(len(fetch), 200)])
	}
	fetchCmd, _, err := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}).Find([]string{"fetch"})
	if err != nil {
		t.Fatal(err)
	}
	fetchCmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(fetch, manFlag(f.Name)) {
			t.Errorf("odi-fetch.1 does not mention %s", "--"+f.Name)
		}
	})
	// Markdown would drop <root> as an HTML tag; the help text is plain text.
	if !strings.Contains(fetch, "DIR/<root>") {
		t.Error("odi-fetch.1 lost the <root> of DIR/<root>")
	}
	if strings.Contains(fetch, `\\<`) || strings.Contains(readFile(t, filepath.Join(man, "odi-completion-bash.1")), `\\<`) {
		t.Error("a man page shows the backslash of a Markdown escape")
	}

	// The files are what `odi completion SHELL` prints, so that both stay one thing.
	for file, shell := range map[string]string{"odi.bash": "bash", "_odi": "zsh", "odi.fish": "fish"} {
		got, want := readFile(t, filepath.Join(comp, file)), odiOutput(t, "completion", shell)
		if got == "" || got != want {
			t.Errorf("%s (%d bytes) differs from odi completion %s (%d bytes)", file, len(got), shell, len(want))
		}
	}

	again := filepath.Join(dir, "again")
	odiOutput(t, "gen-docs", "--man", again)
	pages, err := filepath.Glob(filepath.Join(man, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if readFile(t, p) != readFile(t, filepath.Join(again, filepath.Base(p))) {
			t.Errorf("%s differs between two runs with the same SOURCE_DATE_EPOCH", filepath.Base(p))
		}
	}
}

func TestGenDocsUsage(t *testing.T) {
	for _, tc := range []struct {
		epoch string
		args  []string
	}{
		{"", []string{"gen-docs"}},
		{"yesterday", []string{"gen-docs", "--man", t.TempDir()}},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
		if err := run(context.Background(), tc.args); codeOf(err) != exitUsage {
			t.Errorf("SOURCE_DATE_EPOCH=%q odi %v: %v, want a usage error", tc.epoch, tc.args, err)
		}
	}
	if out := odiOutput(t, "--help"); strings.Contains(out, "gen-docs") || !strings.Contains(out, "completion") {
		t.Errorf("odi --help should list completion and not gen-docs:\n%s", out)
	}
}

// TestGenDocsMakeInstall runs `make install` with this test binary as odi (TestMain
// makes it one under ODI_TEST_MAIN=1) and checks what lands under DESTDIR.
func TestGenDocsMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	bin := os.Args[0]
	dest := t.TempDir()
	// -o: the test binary stands for bin/odi however old it is next to the sources.
	cmd := exec.Command("make", "-C", "../..", "-o", bin, "install", "BIN="+bin, "DESTDIR="+dest, "PREFIX=/usr")
	cmd.Env = append(os.Environ(), "ODI_TEST_MAIN=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for path, mode := range map[string]os.FileMode{
		"usr/bin/odi":                                  0o755,
		"usr/share/man/man1/odi.1":                     0o644,
		"usr/share/man/man1/odi-fetch.1":               0o644,
		"usr/share/bash-completion/completions/odi":    0o644,
		"usr/share/zsh/site-functions/_odi":            0o644,
		"usr/share/fish/vendor_completions.d/odi.fish": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(dest, path))
		if err != nil {
			t.Errorf("make install did not write %s: %v", path, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	fetch := readFile(t, filepath.Join(dest, "usr/share/man/man1/odi-fetch.1"))
	for _, flag := range []string{"output", "directory", "stall-timeout", "http-only"} {
		if !strings.Contains(fetch, manFlag(flag)) {
			t.Errorf("the installed odi-fetch.1 does not mention --%s", flag)
		}
	}
	version := exec.Command(filepath.Join(dest, "usr/bin/odi"), "version")
	version.Env = append(os.Environ(), "ODI_TEST_MAIN=1")
	out, err := version.Output()
	if want := "odi version " + buildVersion() + "\n"; err != nil || string(out) != want {
		t.Errorf("the installed odi version: %q, %v; want %q", out, err, want)
	}
}
