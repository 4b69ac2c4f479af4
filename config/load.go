package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one configuration problem, located by file, line and key path.
type Error struct {
	File string
	Line int    // 0 when the key is absent from the file
	Key  string // e.g. "servers[1].promotion"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File == "" {
		b.WriteString("config") // built in code, not loaded from a file
	}
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a configuration file's contents; path is used in errors. It
// expands ${VAR} and ${VAR:-default} in values, rejects unknown keys and
// badly typed values, applies defaults and validates. All problems found are
// returned together (errors.Join of *Error), each naming file, line and key.
func Parse(data []byte, path string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	c := Default()
	c.Path = path
	if root.Kind == 0 { // empty file
		return nil, errors.Join(c.validate(path, root)...)
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: root.Line, Msg: "the configuration must be a mapping of keys to values"}
	}
	errs := expandEnv(path, root, "")
	errs = append(errs, checkTypes(path, root, configType, "")...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// checkTypes has applied strictness (unknown keys, types) with better
	// messages than yaml.v3's KnownFields; decoding still catches duplicate keys.
	if err := root.Decode(c); err != nil {
		return nil, syntaxError(path, err)
	}
	if c.Routing.LagHysteresis == 0 && lookup(root, "routing.lag_hysteresis") == nil {
		c.Routing.LagHysteresis = c.Routing.MaxReplicaLag / 5
	}
	if errs := c.validate(path, root); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns "yaml: line 3: did not find expected key" into
// "x.yaml:3: did not find expected key", one error per problem.
func syntaxError(path string, err error) error {
	if te, ok := err.(*yaml.TypeError); ok { // e.g. duplicate keys
		errs := make([]error, len(te.Errors))
		for i, e := range te.Errors {
			errs[i] = syntaxError(path, errors.New(e))
		}
		return errors.Join(errs...)
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: m[2]}
	}
	return &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in scalar values (not keys),
// in place. A variable that is unset (or empty, with no default) is an error
// naming the variable, never its value.
func expandEnv(path string, n *yaml.Node, key string) []error {
	var errs []error
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := os.LookupEnv(m[1]); ok && (v != "" || m[2] == "") {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			errs = append(errs, &Error{File: path, Line: n.Line, Key: key, Msg: "environment variable " + m[1] + " is not set"})
			return ""
		})
		// A value from the environment is text, never YAML: a password
		// "null" or "123" stays that string. checkTypes converts it where
		// the key wants a number or a boolean.
		n.Tag = "!!str"
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, expandEnv(path, n.Content[i+1], join(key, n.Content[i].Value))...)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			errs = append(errs, expandEnv(path, item, key+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return errs
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// lookup finds the value node at a key path such as "servers[1].promotion".
func lookup(root *yaml.Node, path string) *yaml.Node {
	n := root
	for _, part := range strings.Split(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				next = n.Content[i+1]
			}
		}
		n = next
		for idx != "" {
			var s string
			s, idx, _ = strings.Cut(idx, "]")
			idx = strings.TrimPrefix(idx, "[")
			i, err := strconv.Atoi(s)
			if n == nil || n.Kind != yaml.SequenceNode || err != nil || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		}
	}
	return n
}

// lineOf is the line of the key path's value, or of its nearest ancestor
// present in the file (a missing key is reported where its parent is).
func lineOf(root *yaml.Node, path string) int {
	for path != "" {
		if n := lookup(root, path); n != nil {
			return n.Line
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// Marshal renders the configuration as YAML that Parse reads back unchanged.
func (c *Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return b.Bytes(), nil
}
