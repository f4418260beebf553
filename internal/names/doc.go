// Package names validates the names users and publishers choose: the catalog, name and
// version segments of an artifact's identity (<catalog>/<name>/<version>) and the file
// paths inside an artifact. Every name that reaches a URL, a SQL row or a file system
// path passes through here first, so a name accepted here is safe in all three.
package names
