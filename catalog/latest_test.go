package catalog

import (
	"testing"
	"time"
)

// TestLatestIsHighestVersion publishes a release, then a backport and an equal-ordering
// respin, and checks that "latest" follows the version order, not the publish order, also
// after the catalog is reopened from its database.
func TestLatestIsHighestVersion(t *testing.T) {
	dir := t.TempDir() + "/data"
	c := testCatalog(t, dir)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	latest := func(c *Catalog, want string) {
		t.Helper()
		a, err := c.Latest("test", "thing")
		if err != nil {
			t.Fatal(err)
		}
		if a.Version != want {
			t.Fatalf("latest is %s, want %s", a.Version, want)
		}
	}
	for _, step := range []struct{ publish, want string }{
		{"2.10.0-rc1", "2.10.0-rc1"},
		{"2.10.0", "2.10.0"},
		{"2.9.0", "2.10.0"},      // a backport, published later
		{"2.10.0-rc2", "2.10.0"}, // a late pre-release
		{"2.10.00", "2.10.00"},   // orders equal to 2.10.0: the later publish wins
	} {
		clock = clock.Add(time.Hour)
		m, data := testArtifact(step.publish, "content of "+step.publish)
		mustPublish(t, c, m, data)
		latest(c, step.want)
	}
	c.Close()
	latest(testCatalog(t, dir), "2.10.00")
}
