// Package geo places IP addresses on the map: their ISO 3166-1 country and their continent,
// read from a MaxMind DB country database (GeoLite2 or GeoIP2 Country or City, or a DB-IP
// database in the same format). The redirector uses it to send users to relays near them.
package geo
