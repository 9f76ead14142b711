package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// EnvPrefix of the environment variables that set flags: KUBECTL_CHAOS_DURATION=10m.
const EnvPrefix = "KUBECTL_CHAOS"

// ConfigEnv names another config file than the default.
const ConfigEnv = "KUBECTL_CHAOS_CONFIG"

// ConfigPath is the config file: $KUBECTL_CHAOS_CONFIG, else
// $XDG_CONFIG_HOME/kubectl-chaos/config.yaml, else ~/.config/kubectl-chaos/config.yaml.
func ConfigPath() string {
	if p := os.Getenv(ConfigEnv); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "kubectl-chaos", "config.yaml")
}

// Config is the loaded configuration: env and file, below the flags.
type Config struct {
	v    *viper.Viper
	path string
	err  error
}

// LoadConfig reads the env and config file. A missing file is fine; a malformed one is
// reported when a command applies the config.
func LoadConfig() *Config {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	for _, k := range experiment.ConfigurableFlags {
		_ = v.BindEnv(k)
	}
	c := &Config{v: v, path: ConfigPath()}
	if c.path != "" {
		v.SetConfigFile(c.path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			var nf viper.ConfigFileNotFoundError
			if !errors.As(err, &nf) {
				c.err = fmt.Errorf("reading config file %s: %w", c.path, err)
			}
		}
	}
	return c
}

// source says where key's value comes from, for error messages.
func (c *Config) source(key string) string {
	env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
	if _, ok := os.LookupEnv(env); ok {
		return "environment variable " + env
	}
	return "config file " + c.path
}

// ApplyConfig sets every configurable flag of cmd that was not given on the command
// line from the env or the config file.
func ApplyConfig(cmd *cobra.Command, c *Config) error {
	if c == nil {
		return nil
	}
	if c.err != nil {
		// Only commands that take configurable flags care about the file.
		for _, key := range experiment.ConfigurableFlags {
			if cmd.Flags().Lookup(key) != nil {
				return exit.UsageError(c.err)
			}
		}
		return nil
	}
	for _, key := range experiment.ConfigurableFlags {
		fl := cmd.Flags().Lookup(key)
		if fl == nil || fl.Changed || !c.v.IsSet(key) {
			continue
		}
		val := c.v.GetString(key)
		if err := fl.Value.Set(val); err != nil {
			return exit.Usagef("--%s from %s: %v", key, c.source(key), err)
		}
		slog.Debug("flag set from configuration", "flag", key, "value", val, "source", c.source(key))
	}
	return nil
}
