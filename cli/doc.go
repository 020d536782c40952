// Package cli is the tune command line: one urfave/cli application whose
// commands are thin wrappers over the library packages.
//
// Flag values come, in order of precedence, from the command line, the
// environment (a ./.env file is loaded first and never overrides variables
// already set), the file named by --config (YAML, JSON or TOML, keyed by
// flag names), and the defaults.
package cli
