// Command bare302 is the ceiling baseline of scripts/bench/redirect.sh: a bare net/http
// server that answers every GET with a 302 to a fixed Location. It does no parsing, no
// lookup and no bookkeeping, so the directory's /r/ redirector can be compared with what
// net/http alone manages on the same machine.
//
// With -headers FILE it also sends the "Name: value" lines of FILE (one a line; the
// Location, if any, replaces -location), so a run can also show what the size of the
// directory's answer (Link duplicates, Digest) costs by itself.
//
// Usage: bare302 [-listen 127.0.0.1:0] [-location URL] [-headers FILE]; it prints
// "listening on ADDR" once it accepts.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on")
	location := flag.String("location", "http://127.0.0.1:1/ws/0123456789abcdef0123456789abcdef01234567/a1", "the Location of every answer")
	headers := flag.String("headers", "", `file of extra "Name: value" header lines to send`)
	flag.Parse()

	fixed := http.Header{}
	if *headers != "" {
		f, err := os.Open(*headers)
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, value, ok := strings.Cut(strings.TrimRight(sc.Text(), "\r"), ":")
			if !ok || strings.TrimSpace(name) == "" {
				continue
			}
			fixed.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		if err := sc.Err(); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	if fixed.Get("Location") == "" {
		fixed.Set("Location", *location)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range fixed {
			h[k] = v
		}
		w.WriteHeader(http.StatusFound)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	log.Fatal(srv.Serve(ln))
}
