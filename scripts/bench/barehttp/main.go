// Command barehttp is the ceiling baseline of scripts/bench/tracker.sh: a bare net/http
// server whose only handler, /announce, answers a fixed small bencoded body. It does no
// parsing, no routing beyond net/http's own and no bookkeeping, so a Go tracker's HTTP
// announce rate can be compared with what net/http alone manages on the same machine.
//
// Usage: barehttp [-listen 127.0.0.1:0]; it prints "listening on ADDR" once it accepts.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// body is a valid, empty announce answer.
var body = []byte("d8:intervali600e5:peers0:e")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{length}
		w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	log.Fatal(srv.Serve(ln))
}
