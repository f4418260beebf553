package geo

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/geoip2-golang/v2"
)

// Locator answers where addresses are from one database file. It is safe for concurrent
// use: lookups read the memory-mapped file and share no state.
type Locator struct {
	db *geoip2.Reader
}

// Open opens the MaxMind DB file at path. It refuses a database that holds no countries (an
// ASN or ISP one), which would otherwise locate nobody without a word.
func Open(path string) (*Locator, error) {
	db, err := geoip2.Open(path)
	if err != nil {
		// geoip2 returns the open reader along with an unknown-type error.
		if db != nil {
			err = errors.Join(err, db.Close())
		}
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	if _, err := db.Country(netip.IPv4Unspecified()); err != nil {
		return nil, fmt.Errorf("open geoip database %s: %w", path, errors.Join(err, db.Close()))
	}
	return &Locator{db: db}, nil
}

// Locate returns addr's ISO 3166-1 alpha-2 country code ("DE") and its continent code (one of
// AF AN AS EU NA OC SA), each "" when unknown: for loopback and private addresses, addresses
// the database does not list, and lookup errors, since a location only ever orders mirrors.
// Where the database knows only the country an address is registered in (anycast, satellite
// links), that country stands in.
func (l *Locator) Locate(addr netip.Addr) (country, continent string) {
	if !addr.IsValid() {
		return "", ""
	}
	// A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d, which only some
	// databases alias to their IPv4 tree.
	rec, err := l.db.Country(addr.Unmap())
	if err != nil {
		return "", ""
	}
	country = rec.Country.ISOCode
	if country == "" {
		country = rec.RegisteredCountry.ISOCode
	}
	return country, rec.Continent.Code
}

// Close unmaps the database; the Locator must not be used after.
func (l *Locator) Close() error {
	return l.db.Close()
}
