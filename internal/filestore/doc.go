// Package filestore is a BitTorrent storage (anacrolix/torrent's storage.ClientImpl) that
// keeps a torrent's files at their final names, as anacrolix's file storage lays them out
// without part files, and reads and writes them with pread and pwrite.
//
// anacrolix v1.61.0's file storage maps every file into memory for the life of the
// client (its default file IO; the other is chosen only by an environment variable read
// at program start). Mapped pages cannot be dropped from the page cache, so a download
// of G GiB holds G GiB of cache, and on a virtual machine the guest pays the host for
// every page it touches afresh: about 10 s of system time per GiB, measured, against a
// third of a second when a writer reuses pages it let go of. With plain file IO the
// owner of a file can let go of what it has hashed and synced (DropCache), so that the
// download's later writes land in those pages again.
//
// It implements no BEP of its own: it is where BEP 3's pieces are kept.
package filestore
