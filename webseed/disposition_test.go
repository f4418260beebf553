package webseed

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestDownloadNames downloads through the redirector with real curl and wget, each in
// the forms the README shows, and checks the name each saves the file under.
func TestDownloadNames(t *testing.T) {
	n := newRedirectNet(t, nil)
	tests := []struct {
		tool string
		args []string // the URL goes last
		path string
		want string // the saved file's name
	}{
		{"curl", []string{"-sSfLOJ"}, "/r/debian/netinst/latest", "netinst.iso"},
		{"curl", []string{"-sSfLO"}, "/r/debian/netinst/latest/netinst.iso", "netinst.iso"},
		{"curl", []string{"-sSfLO"}, "/r/debian/netinst/12.5/netinst.iso", "netinst.iso"},
		{"curl", []string{"-sSfLOJ"}, "/r/debian/docs/1.0/sub/c%23d.txt", "c#d.txt"},
		// curl -J reads no filename*: it saves the ASCII fallback.
		{"curl", []string{"-sSfLOJ"}, "/r/debian/intl/1", "Jurgen's cafe __.iso"},
		{"curl", []string{"-sSfLO"}, "/r/debian/intl/1/" + url.PathEscape(intlName), url.PathEscape(intlName)},
		{"wget", []string{"-q", "--content-disposition"}, "/r/debian/netinst/latest", "netinst.iso"},
		{"wget", []string{"-q"}, "/r/debian/netinst/latest/netinst.iso", "netinst.iso"},
		{"wget", []string{"-q", "--content-disposition"}, "/r/debian/intl/latest", intlName},
		{"wget", []string{"-q"}, "/r/debian/intl/1/" + url.PathEscape(intlName), intlName},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.path, func(t *testing.T) {
			bin, err := exec.LookPath(tt.tool)
			if err != nil {
				t.Skipf("%s is not on PATH: %v", tt.tool, err)
			}
			dir := t.TempDir()
			cmd := exec.CommandContext(t.Context(), bin, append(slices.Clone(tt.args), n.dir.URL+tt.path)...)
			cmd.Dir = dir
			// No proxy from the environment may stand between the tool and loopback.
			cmd.Env = append(os.Environ(), "no_proxy=*", "NO_PROXY=*", "http_proxy=", "HTTP_PROXY=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var saved []string
			for _, e := range entries {
				saved = append(saved, e.Name())
			}
			if len(saved) != 1 || saved[0] != tt.want {
				t.Fatalf("%s saved %q; want [%q]", cmd, saved, tt.want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, tt.want)); err != nil || len(b) == 0 {
				t.Errorf("%s: reading what it saved: %v (%d bytes)", cmd, err, len(b))
			}
		})
	}
}
