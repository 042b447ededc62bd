package settler

import (
	"os"

	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
)

// File is a settler's config file: the shared sections every binary reads
// (networks, verify, nats, ingest, log) plus the `settler:` section.
type File struct {
	config.Config `yaml:",inline"`
	Settler       Config `yaml:"settler"`
	// Watcher is the watcher's section of a shared file, read by the watcher.
	Watcher yaml.Node `yaml:"watcher,omitempty"`
}

// LoadFile reads a settler config file (see ParseFile).
func LoadFile(path string) (*File, error) {
	return config.ReadFile(path, os.LookupEnv, ParseFile)
}

// ParseFile decodes a settler config as config.Parse does a shared one:
// ${VAR} and ${VAR:-default} expand inside scalar values only (never keys or
// comments), unknown fields are refused, then both parts get their defaults
// and are validated.
func ParseFile(b []byte, lookup func(string) (string, bool)) (*File, error) {
	f := &File{}
	if err := config.DecodeFile(b, lookup, f, &f.Config, &f.Settler); err != nil {
		return nil, err
	}
	return f, nil
}
