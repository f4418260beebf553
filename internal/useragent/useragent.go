package useragent

import "math/rand/v2"

var users = []string{
	"curl/8.5.0",
	"curl/7.81.0",
	"curl/7.88.1",
	"curl/8.11.1",
	"Wget/1.21.4",
	"Wget/1.21.2",
	"aria2/1.37.0",
	"aria2/1.36.0",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
}

// Random returns a user's User-Agent, drawn at random.
func Random() string { return users[rand.IntN(len(users))] }

// IsUser reports whether ua is one of those Random returns.
func IsUser(ua string) bool {
	for _, u := range users {
		if u == ua {
			return true
		}
	}
	return false
}
