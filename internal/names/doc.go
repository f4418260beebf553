// Package names validates the names users and publishers choose: the catalog, name and
// version segments of an artifact's identity (<catalog>/<name>/<version>) and the file
// paths inside an artifact. Every name that reaches a URL, a SQL row or a file system
// path passes through here first, so a name accepted here is safe in all three, means
// one file on every system (Windows' naming rules, Unicode NFC, case-insensitive file
// systems), and does not pass for another (UAX #9 bidirectional controls, default-ignorable
// code points, UTS #39 mixed-script and mixed-number detection).
package names
