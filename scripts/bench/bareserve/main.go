// Command bareserve is the web-seed benchmark's baseline: net/http's ServeContent on one
// file, with nothing else in the way.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	file := flag.String("file", "", "the file to serve at /<its name>")
	flag.Parse()
	if *file == "" {
		log.Fatal("bareserve: -file is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	name := "/" + filepath.Base(*file)
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != name {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(*file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, name, fi.ModTime(), f)
	})))
}
