package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/catalogapi"
)

// adminCommands is every command under odi admin, groups included.
func adminCommands(t *testing.T) []*cobra.Command {
	t.Helper()
	admin, _, err := newRootCmd(io.Discard, io.Discard).Find([]string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(admin)
	return all
}

// Every admin command teaches itself: a Long that says where its arguments come from,
// and examples that name commands and flags that exist.
func TestAdminHelp(t *testing.T) {
	for _, c := range adminCommands(t) {
		path := c.CommandPath()
		if strings.TrimSpace(c.Long) == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: Long %q, Example %q; want both", path, c.Long, c.Example)
			continue
		}
		for _, arg := range strings.Fields(c.Use)[1:] {
			from := map[string]string{
				"ID": "odi admin relays list", "NAME": c.Parent().Name() + " add", "KEY.pub": "odi keygen",
				"CATALOG/NAME/VERSION": "odi publish",
			}[arg]
			if from != "" && !(arg == "NAME" && c.Name() == "add") && !strings.Contains(c.Long, from) {
				t.Errorf("%s takes %s but its help does not say it comes from %q", path, arg, from)
			}
		}
		for _, line := range strings.Split(c.Example, "\n") {
			line, _, _ = strings.Cut(line, "#")
			line, _, _ = strings.Cut(line, "|")
			args := strings.Fields(line)
			if len(args) == 0 || args[0] != "odi" {
				continue
			}
			root := newRootCmd(io.Discard, io.Discard)
			cmd, rest, err := root.Find(args[1:])
			if err != nil || cmd == root {
				t.Errorf("%s: example %q names no command (%v)", path, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: example %q: %v", path, line, err)
			}
		}
	}
}

// A usage error points at the help of the command it happened in.
func TestUsageErrorNamesCommandHelp(t *testing.T) {
	tests := []struct {
		args []string
		help string
		want string // in the error
	}{
		{[]string{"admin", "relays", "approve"}, "odi admin relays approve", "the relay's ID"},
		{[]string{"admin", "publishers", "add", "debian"}, "odi admin publishers add", "NAME and KEY.pub"},
		{[]string{"admin", "relays", "list", "--bogus"}, "odi admin relays list", "--bogus"},
		{[]string{"admin", "relays", "aprove", "x"}, "odi admin relays", `did you mean approve?`},
		{[]string{"admin", "expunge", "not-an-id", "--reason", "r"}, "odi admin expunge", "CATALOG/NAME/VERSION"},
		{[]string{"bogus"}, "odi", `unknown command "bogus" for "odi"`},
		{[]string{"--bogus"}, "odi", "--bogus"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args)
		if codeOf(err) != exitUsage {
			t.Errorf("odi %s: %v (exit %d), want a usage error", strings.Join(tt.args, " "), err, codeOf(err))
			continue
		}
		if got := helpPath(err); got != tt.help {
			t.Errorf("odi %s: points at %q's help, want %q's", strings.Join(tt.args, " "), got, tt.help)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("odi %s: error %q does not say %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

// A directory URL that reaches nothing, or something that is not a directory, says so
// and where the URL is set.
func TestAdminWrongDirectory(t *testing.T) {
	key := newKeys(t, "admin")[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html><body><h1>Not Found</h1></body></html>")
	}))
	defer foreign.Close()
	tests := []struct {
		directory string
		want      string
	}{
		{closed, "list relays: cannot reach the directory at " + closed + ": connection refused (is the directory running at " +
			closed + "? set it with --directory or ODI_CLIENT_DIRECTORY)"},
		{foreign.URL, "list relays: " + foreign.URL + " does not look like an odi directory (GET /api/v1/relays answered 404 text/html) " +
			"(set it with --directory or ODI_CLIENT_DIRECTORY)"},
	}
	for _, tt := range tests {
		err := run(context.Background(), []string{"admin", "--directory", tt.directory, "--key", key, "relays", "list"})
		if err == nil || err.Error() != tt.want || codeOf(err) != exitError {
			t.Errorf("relays list at %s: %v (exit %d), want %q (exit %d)", tt.directory, err, codeOf(err), tt.want, exitError)
		}
	}
}

// runOdi runs odi in process and returns its stdout.
func runOdi(ctx context.Context, args ...string) (string, error) {
	var stdout bytes.Buffer
	root := newRootCmd(&stdout, io.Discard)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return stdout.String(), explain(cmd, err)
}

func TestAdminListJSON(t *testing.T) {
	ctx := context.Background()
	tn := startTestDirectory(t, relayDirectory)
	r := startTestRelay(t, tn)
	waitFor(t, 10*time.Second, "relay registered", func() bool { return relayView(t, tn, r.id).ID == r.id })
	admin := []string{"admin", "--directory", tn.base, "--key", tn.adminKey}

	out, err := runOdi(ctx, append(admin, "relays", "list", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var relays struct{ Relays []catalogapi.Relay }
	if err := strictJSON(out, &relays); err != nil {
		t.Fatalf("relays list --json: %v in %q", err, out)
	}
	if len(relays.Relays) != 1 || relays.Relays[0].ID != r.id || relays.Relays[0].PublicURL != r.url {
		t.Errorf("relays list --json: %+v, want relay %s at %s", relays.Relays, r.id, r.url)
	}

	out, err = runOdi(ctx, append(admin, "publishers", "list", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var pubs struct{ Publishers []catalogapi.Publisher }
	if err := strictJSON(out, &pubs); err != nil {
		t.Fatalf("publishers list --json: %v in %q", err, out)
	}
	if len(pubs.Publishers) != 1 || pubs.Publishers[0].Name != "tester" || !pubs.Publishers[0].Static {
		t.Errorf("publishers list --json: %+v, want the static publisher tester", pubs.Publishers)
	}
}

// strictJSON decodes out, which must be one JSON document and nothing else.
func strictJSON(out string, v any) error {
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON document")
	}
	return nil
}
