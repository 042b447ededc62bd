package settler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
)

// File is a settler's config file: the shared sections every binary reads
// (networks, verify, nats, ingest, log) plus the `settler:` section.
type File struct {
	config.Config `yaml:",inline"`
	Settler       Config `yaml:"settler"`
}

// LoadFile reads a settler config file (see ParseFile).
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := ParseFile(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// ParseFile decodes a settler config as config.Parse does a shared one:
// ${VAR} and ${VAR:-default} expand inside scalar values only (never keys or
// comments), unknown fields are refused, then both parts get their defaults
// and are validated.
func ParseFile(b []byte, lookup func(string) (string, bool)) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("decode yaml: %w", err)
	}
	missing := map[string]bool{}
	expandValues(&root, lookup, missing)
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(names, ", "))
	}
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("re-encode yaml: %w", err)
	}
	f := &File{Config: config.Config{Verify: config.DefaultVerify()}}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode yaml: %w", err)
	}
	f.Config.Default()
	f.Settler.Default()
	if err := errors.Join(f.Config.Validate(), f.Settler.Validate()); err != nil {
		return nil, err
	}
	return f, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandValues expands ${VAR} in the scalar values (not keys) under n and
// collects the names of unset variables that have no default.
func expandValues(n *yaml.Node, lookup func(string) (string, bool), missing map[string]bool) {
	if n.Kind == yaml.ScalarNode {
		if !strings.Contains(n.Value, "${") {
			return
		}
		v, err := config.Expand(n.Value, lookup)
		if err != nil {
			for _, m := range varRef.FindAllStringSubmatch(n.Value, -1) {
				if _, ok := lookup(m[1]); !ok && m[2] == "" {
					missing[m[1]] = true
				}
			}
			return
		}
		n.Value = v
		if n.Style == 0 {
			n.Tag = "" // a plain scalar is typed by its expanded text
		}
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are not expanded
		}
		expandValues(c, lookup, missing)
	}
}
