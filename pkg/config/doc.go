// Package config holds the facilitator's network, token and verification
// settings: YAML files in configs/, environment overrides, defaults and
// validation with field-level messages.
package config
