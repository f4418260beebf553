package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/internal/dhtnode"
	"github.com/opendist/odi/internal/history"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/seeder"
	"github.com/opendist/odi/tracker"
	"github.com/opendist/odi/webseed"
)

// Config is everything odi reads from defaults, the YAML file, ODI_* env and flags. Each
// role's section embeds its packages' Configs, so the keys are the packages' own.
type Config struct {
	Log       LogConfig       `mapstructure:"log"`
	Directory DirectoryConfig `mapstructure:"directory"`
	Relay     RelayConfig     `mapstructure:"relay"`
	Client    ClientConfig    `mapstructure:"client"`
	Fetch     FetchConfig     `mapstructure:"fetch"`
}

// LogConfig shapes the logs every role writes to stderr.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// DirectoryConfig is `odi directory`'s configuration.
type DirectoryConfig struct {
	// Listen is the HTTP listen address; port 0 picks a free port (printed at start).
	Listen  string         `mapstructure:"listen"`
	Tracker tracker.Config `mapstructure:"tracker"`
	// GeoIP is a MaxMind-format country database (GeoLite2-Country, DB-IP lite...); with
	// one, users are sent to relays in their country or continent first. "" for none.
	GeoIP string `mapstructure:"geoip"`
	// Origin rations the origin copy's web seed in a crowd (see webseed.Ledger).
	Origin webseed.LedgerConfig `mapstructure:"origin"`
	// Limits bound connections, and requests per client address.
	Limits DirectoryLimits `mapstructure:"limits"`
	// TLS serves HTTPS on Listen.
	TLS TLSConfig `mapstructure:"tls"`
	// AccessLog is the access log (Combined Log Format): "" none, "-" stderr, or a file,
	// reopened on SIGHUP.
	AccessLog string `mapstructure:"access_log"`
	// Federation links, references and pulls catalogs of other directories and upstreams.
	Federation FederationConfig `mapstructure:"federation"`
	// DHT is the directory's DHT node (BEP 5), the rendezvous of its network's DHT (dht.go).
	DHT dhtnode.Config `mapstructure:"dht"`
	// History sizes the charts' history (history.go); tests shorten its interval.
	History        history.Config `mapstructure:"-"`
	catalog.Config `mapstructure:",squash"`
}

// DirectoryLimits bound what one client address, or all together, can take from the
// directory (internal/limit). A request counts against the address the tracker believes:
// behind a trusted proxy, X-Forwarded-For's. The origin's /ws/ and /dl/ bytes have no
// request rate (a web seed asks for a piece at a time, hundreds a second); the origin's
// ration and the connection caps bound them.
type DirectoryLimits struct {
	limit.Config `mapstructure:",squash"`
	// Requests: the API, /r/, /m/, /t/ and the rest, per address.
	Requests limit.Rate `mapstructure:"requests"`
	// Tracker: announces and scrapes, HTTP and UDP (connects count), per address.
	Tracker limit.Rate `mapstructure:"tracker"`
	// Registrations: relay registrations per address, on top of Requests.
	Registrations limit.Rate `mapstructure:"registrations"`
}

// defaultDirectoryLimits suit a public directory: an address may be a NAT with many
// users, each announcing a few torrents every half hour and fetching now and then.
func defaultDirectoryLimits() DirectoryLimits {
	return DirectoryLimits{
		Config:        limit.DefaultConfig(),
		Requests:      limit.Rate{PerSecond: 50, Burst: 200},
		Tracker:       limit.Rate{PerSecond: 50, Burst: 200},
		Registrations: limit.Rate{PerSecond: 1.0 / 60, Burst: 10},
	}
}

// Validate reports every invalid limit.
func (l DirectoryLimits) Validate() error {
	return errors.Join(l.Config.Validate(), l.Requests.Validate("requests"), l.Tracker.Validate("tracker"),
		l.Registrations.Validate("registrations"))
}

// ClientConfig is what commands that talk to a directory need (publish, admin).
type ClientConfig struct {
	Directory string `mapstructure:"directory"` // base URL
	Key       string `mapstructure:"key"`       // private key file that signs requests
}

// FetchConfig is odi fetch's own configuration.
type FetchConfig struct {
	// Trust are the index keys (.pub files or key lines) a fetch holds the directory to;
	// none takes the directory's word.
	Trust []string `mapstructure:"trust"`
}

func defaultConfig() Config {
	cfg := Config{
		Log: LogConfig{Level: "info", Format: "text"},
		Directory: DirectoryConfig{
			Listen: "127.0.0.1:8080", Tracker: tracker.DefaultConfig(), Origin: webseed.DefaultLedgerConfig(),
			Limits: defaultDirectoryLimits(), Config: catalog.DefaultConfig(),
			Federation: FederationConfig{Linkers: links.DefaultLinkersConfig()}, DHT: directoryDHTDefaults(),
		},
		Relay: RelayConfig{Listen: "127.0.0.1:8081", Limits: limit.DefaultConfig(), Config: seeder.DefaultConfig()},
	}
	cfg.Directory.CreatedBy = "odi/" + buildVersion()
	return cfg
}

// flagKeys binds a command's flags to config keys: flag name -> key.
type flagKeys map[string]string

// loadConfig layers defaults, the config file, ODI_* env and cmd's bound flags.
func loadConfig(cmd *cobra.Command, g *globals, bind flagKeys) (Config, error) {
	v := viper.New()
	def := defaultConfig()
	setDefaults(v, "", reflect.ValueOf(def))
	v.SetEnvPrefix("ODI")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, name := range []string{"log-level", "log-format"} {
		bind[name] = "log." + strings.TrimPrefix(name, "log-")
	}
	for flag, key := range bind {
		f := cmd.Flags().Lookup(flag)
		if f == nil {
			return Config{}, fmt.Errorf("internal: no flag --%s", flag)
		}
		if err := v.BindPFlag(key, f); err != nil {
			return Config{}, err
		}
	}
	if g.configFile != "" {
		v.SetConfigFile(g.configFile)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Config{}, usageError("config file %s does not exist", g.configFile)
			}
			return Config{}, usageError("read config %s: %v", g.configFile, err)
		}
	}
	cfg := def // keys that no layer sets (mapstructure:"-") keep their defaults
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true // a typo in the file fails loudly instead of being ignored
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.TextUnmarshallerHookFunc(),
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return Config{}, usageError("config: %v", err)
	}
	return cfg, nil
}

// setDefaults registers every key of the config struct with its default, so that each
// can be set from the environment alone (viper only reads env for keys it knows).
func setDefaults(v *viper.Viper, prefix string, val reflect.Value) {
	t := val.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous || strings.Contains(f.Tag.Get("mapstructure"), "squash") {
			setDefaults(v, prefix, val.Field(i))
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct {
			setDefaults(v, key+".", val.Field(i))
			continue
		}
		v.SetDefault(key, val.Field(i).Interface())
	}
}

// withKey documents a flag's config key and env var in its usage text.
func withKey(usage, key string) string {
	return fmt.Sprintf("%s (config %s, env ODI_%s)", usage, key, envName(key))
}

// loadRole loads the config of a daemon command and builds its logger.
func loadRole(cmd *cobra.Command, g *globals, bind flagKeys) (Config, *slog.Logger, error) {
	cfg, err := loadConfig(cmd, g, bind)
	if err != nil {
		return Config{}, nil, err
	}
	log, err := newLogger(cfg.Log, g.stderr)
	return cfg, log, err
}
