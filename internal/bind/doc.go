// Package bind makes every socket a program opens leave from one local address: its HTTP
// clients' connections, and an anacrolix client's peers, web seeds and trackers (TCP and
// UDP). A host with many addresses then shows one to the network, the tracker lists it
// where it listens, and tests and benchmarks can give each client its own loopback
// address (127.0.0.0/8), as each user on the internet has its own. Without an address
// (the zero Host) the system picks, except that anacrolix's UDP tracker sockets, which
// it would bind to every address, are bound to where the route to the tracker leaves
// from.
package bind
