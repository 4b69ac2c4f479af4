package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads Go duration text ("250ms", "5s", "1h30m").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 250ms)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the shortest Go duration text ("5m", not "5m0s").
func (d Duration) MarshalYAML() (any, error) {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s, nil
}

func (d Duration) String() string {
	s, _ := d.MarshalYAML()
	return s.(string)
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// UnmarshalYAML reads a byte count: 1024, "64KiB", "16MiB", "1GiB" (also KB,
// MB, GB as the same binary units).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a size (e.g. 16MiB)", n.Line, n.Value)
	}
	*b = v
	return nil
}

// MarshalYAML writes the largest exact binary unit ("16MiB"), else bytes.
func (b ByteSize) MarshalYAML() (any, error) {
	for _, u := range sizeUnits {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name, nil
		}
	}
	return int64(b), nil
}

var sizeUnits = []struct {
	name string
	size ByteSize
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

var sizeAliases = map[string]string{"GB": "GiB", "G": "GiB", "MB": "MiB", "M": "MiB", "KB": "KiB", "K": "KiB", "B": ""}

func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(s[len(num):])
	if a, ok := sizeAliases[strings.ToUpper(unit)]; ok {
		unit = a
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("bad size")
	}
	if unit == "" {
		return ByteSize(n), nil
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > int64(1<<62)/int64(u.size) {
				return 0, errors.New("size too large")
			}
			return ByteSize(n) * u.size, nil
		}
	}
	return 0, errors.New("unknown unit")
}
